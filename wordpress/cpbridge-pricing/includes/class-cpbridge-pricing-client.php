<?php
/**
 * The cpbridge pricing API client: one request per page or cart, and nothing that can break the shop.
 *
 * It works without WordPress (its tests run with plain `php`): inside WordPress it sends through wp_remote_post,
 * elsewhere through PHP's HTTP stream wrapper. Every failure (timeout, refused connection, an error status, an
 * answer it cannot read) returns null and logs one warning, so the caller shows the regular price.
 */

if ( ! defined( 'ABSPATH' ) && ! defined( 'CPBRIDGE_PRICING_TESTING' ) ) {
	exit;
}

class CPBridge_Pricing_Client {
	/** @var string The API's base address, e.g. https://cpbridge.example.com */
	private $base_url;
	/** @var string The API key, sent as a bearer token. */
	private $api_key;
	/** @var float Seconds before the shop gives up and shows regular prices. */
	private $timeout;
	/** @var callable|null fn(string $url, array $headers, string $body, float $timeout): array{status:int, body:string} */
	private $transport;
	/** @var callable Where warnings go (error_log by default). */
	private $logger;

	public function __construct( $base_url, $api_key, $timeout = 1.5, $transport = null, $logger = null ) {
		$this->base_url  = rtrim( (string) $base_url, '/' );
		$this->api_key   = (string) $api_key;
		$this->timeout   = max( 0.1, (float) $timeout );
		$this->transport = $transport;
		$this->logger    = $logger ? $logger : function ( $message ) {
			error_log( $message ); // phpcs:ignore WordPress.PHP.DevelopmentFunctions.error_log_error_log
		};
	}

	/**
	 * The request for one page or cart: the URL, headers and JSON body.
	 *
	 * @param string $cust_no Counterpoint CUST_NO of the logged-in customer.
	 * @param array  $items   SKU => quantity.
	 * @return array{url:string, headers:array, body:string}
	 */
	public function build_request( $cust_no, array $items ) {
		$lines = array();
		foreach ( $items as $sku => $qty ) {
			$sku = (string) $sku;
			if ( '' === $sku ) {
				continue;
			}
			$lines[] = array(
				'sku' => $sku,
				'qty' => max( 1, (float) $qty ),
			);
		}
		return array(
			'url'     => $this->base_url . '/api/v1/prices',
			'headers' => array(
				'Authorization' => 'Bearer ' . $this->api_key,
				'Content-Type'  => 'application/json',
				'Accept'        => 'application/json',
			),
			'body'    => json_encode(
				array(
					'customer' => (string) $cust_no,
					'items'    => $lines,
				)
			),
		);
	}

	/**
	 * Reads an answer: SKU => unit price (a string, as WooCommerce keeps prices), or null when it cannot be used.
	 *
	 * @param int    $status HTTP status.
	 * @param string $body   Response body.
	 * @return array|null
	 */
	public function parse_response( $status, $body ) {
		if ( 200 !== (int) $status ) {
			$detail = json_decode( (string) $body, true );
			$reason = is_array( $detail ) && isset( $detail['error'] ) ? $detail['error'] : 'no detail';
			$this->warn( sprintf( 'the pricing API answered %d (%s); regular prices are shown', $status, $reason ) );
			return null;
		}
		$data = json_decode( (string) $body, true );
		if ( ! is_array( $data ) || ! isset( $data['items'] ) || ! is_array( $data['items'] ) ) {
			$this->warn( 'the pricing API answer cannot be read; regular prices are shown' );
			return null;
		}
		$prices = array();
		foreach ( $data['items'] as $item ) {
			if ( ! is_array( $item ) || ! isset( $item['sku'], $item['unit_price'] ) || ! is_numeric( $item['unit_price'] ) ) {
				continue;
			}
			$prices[ (string) $item['sku'] ] = (string) $item['unit_price'];
		}
		return $prices;
	}

	/**
	 * Prices for the customer, or null (fail open) when the API is slow, down or odd.
	 *
	 * @param string $cust_no Counterpoint CUST_NO.
	 * @param array  $items   SKU => quantity.
	 * @return array|null SKU => unit price.
	 */
	public function prices( $cust_no, array $items ) {
		if ( '' === (string) $cust_no || empty( $items ) || '' === $this->base_url || '' === $this->api_key ) {
			return null;
		}
		$request = $this->build_request( $cust_no, $items );
		$started = microtime( true );
		$answer  = $this->send( $request['url'], $request['headers'], $request['body'] );
		if ( null === $answer ) {
			$this->warn( sprintf( 'the pricing API did not answer within %.1f s; regular prices are shown', $this->timeout ) );
			return null;
		}
		if ( microtime( true ) - $started > $this->timeout ) {
			$this->warn( 'the pricing API answered too late; regular prices are shown' );
			return null;
		}
		return $this->parse_response( $answer['status'], $answer['body'] );
	}

	/**
	 * The Counterpoint customer number of the account with this e-mail address: the fallback for a logged-in user
	 * whose account carries no link (one made before the customer sync, or by hand).
	 *
	 * @param string $email The account's e-mail address.
	 * @return string|null The CUST_NO; '' when the API says no customer has the address; null when it could not be
	 *                     asked (slow, down, refused), so the caller shows regular prices and asks again later.
	 */
	public function customer_by_email( $email ) {
		$email = trim( (string) $email );
		if ( '' === $email || '' === $this->base_url || '' === $this->api_key ) {
			return null;
		}
		$url     = $this->base_url . '/api/v1/customers/by-email?email=' . rawurlencode( $email );
		$headers = array(
			'Authorization' => 'Bearer ' . $this->api_key,
			'Accept'        => 'application/json',
		);
		$started = microtime( true );
		$answer  = $this->send( $url, $headers, '', 'GET' );
		if ( null === $answer || microtime( true ) - $started > $this->timeout ) {
			$this->warn( sprintf( 'the customer lookup did not answer within %.1f s', $this->timeout ) );
			return null;
		}
		if ( 404 === (int) $answer['status'] ) {
			return '';
		}
		$data = json_decode( (string) $answer['body'], true );
		if ( 200 !== (int) $answer['status'] || ! is_array( $data ) || ! isset( $data['customer'] ) || ! is_string( $data['customer'] ) ) {
			$this->warn( sprintf( 'the customer lookup answered %d; regular prices are shown', $answer['status'] ) );
			return null;
		}
		return $data['customer'];
	}

	/** @return array{status:int, body:string}|null */
	private function send( $url, array $headers, $body, $method = 'POST' ) {
		if ( $this->transport ) {
			return call_user_func( $this->transport, $url, $headers, $body, $this->timeout, $method );
		}
		if ( function_exists( 'wp_remote_request' ) ) {
			$response = wp_remote_request(
				$url,
				array(
					'method'  => $method,
					'headers' => $headers,
					'body'    => 'GET' === $method ? null : $body,
					'timeout' => $this->timeout,
				)
			);
			if ( is_wp_error( $response ) ) {
				return null;
			}
			return array(
				'status' => (int) wp_remote_retrieve_response_code( $response ),
				'body'   => (string) wp_remote_retrieve_body( $response ),
			);
		}
		return self::stream_post( $url, $headers, $body, $this->timeout, $method );
	}

	/** PHP's own HTTP client, for use outside WordPress. */
	public static function stream_post( $url, array $headers, $body, $timeout, $method = 'POST' ) {
		$lines = array();
		foreach ( $headers as $name => $value ) {
			$lines[] = $name . ': ' . $value;
		}
		$context = stream_context_create(
			array(
				'http' => array(
					'method'        => $method,
					'header'        => implode( "\r\n", $lines ),
					'content'       => 'GET' === $method ? '' : $body,
					'timeout'       => $timeout,
					'ignore_errors' => true,
				),
			)
		);
		$text = @file_get_contents( $url, false, $context ); // phpcs:ignore
		if ( false === $text || ! isset( $http_response_header[0] ) ) {
			return null;
		}
		if ( ! preg_match( '#^HTTP/\S+\s+(\d{3})#', $http_response_header[0], $m ) ) {
			return null;
		}
		return array(
			'status' => (int) $m[1],
			'body'   => $text,
		);
	}

	private function warn( $message ) {
		call_user_func( $this->logger, 'cpbridge-pricing: ' . $message );
	}
}
