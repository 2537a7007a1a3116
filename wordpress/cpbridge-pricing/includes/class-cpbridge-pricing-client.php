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
	/** @var callable|null Called once when a call fails, so the caller can keep the API closed for a while. */
	private $on_failure;

	/**
	 * Seconds spent waiting on the API in this PHP request (one page view), across every client and call: a page
	 * never waits more than one timeout in total, however many prices it shows.
	 *
	 * @var float
	 */
	private static $spent = 0.0;
	/** @var bool Whether a call in this request failed: the circuit is open, and no further call is made. */
	private static $open = false;

	/** Starts a new page view's budget (PHP starts each request afresh; the tests call this between pages). */
	public static function new_request() {
		self::$spent = 0.0;
		self::$open  = false;
	}

	/** @param callable $on_failure fn(string $why): called when a call fails or times out. */
	public function on_failure( $on_failure ) {
		$this->on_failure = $on_failure;
	}

	/** The time this call may take: what is left of the page's budget, or null when nothing may be asked. */
	private function allowance() {
		if ( self::$open ) {
			return null;
		}
		$left = $this->timeout - self::$spent;
		return $left >= 0.05 ? $left : null;
	}

	/** Books a call's time, and opens the circuit when it failed. */
	private function account( $started, $failed, $why ) {
		self::$spent += microtime( true ) - $started;
		if ( $failed ) {
			self::$open = true;
			$this->warn( $why );
			if ( $this->on_failure ) {
				call_user_func( $this->on_failure, $why );
			}
		}
	}

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
		$allowed = $this->allowance();
		if ( null === $allowed ) {
			return null; // An earlier call of this page failed or used the budget: regular prices, at once.
		}
		$request = $this->build_request( $cust_no, $items );
		$started = microtime( true );
		$answer  = $this->send( $request['url'], $request['headers'], $request['body'], 'POST', $allowed );
		if ( null === $answer ) {
			$this->account( $started, true, sprintf( 'the pricing API did not answer within %.1f s; regular prices are shown', $allowed ) );
			return null;
		}
		if ( microtime( true ) - $started > $allowed ) {
			$this->account( $started, true, 'the pricing API answered too late; regular prices are shown' );
			return null;
		}
		$prices = $this->parse_response( $answer['status'], $answer['body'] );
		// A refusal about this request (401, 404, 400) is not an outage; a server error or garbage is.
		$this->account( $started, null === $prices && ( (int) $answer['status'] >= 500 || 200 === (int) $answer['status'] ), 'the pricing API is failing; regular prices are shown' );
		return $prices;
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
		$allowed = $this->allowance();
		if ( null === $allowed ) {
			return null;
		}
		$started = microtime( true );
		$answer  = $this->send( $url, $headers, '', 'GET', $allowed );
		if ( null === $answer || microtime( true ) - $started > $allowed ) {
			$this->account( $started, true, sprintf( 'the customer lookup did not answer within %.1f s', $allowed ) );
			return null;
		}
		$this->account( $started, false, '' );
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
	private function send( $url, array $headers, $body, $method, $timeout ) {
		if ( $this->transport ) {
			return call_user_func( $this->transport, $url, $headers, $body, $timeout, $method );
		}
		if ( function_exists( 'wp_remote_request' ) ) {
			$response = wp_remote_request(
				$url,
				array(
					'method'  => $method,
					'headers' => $headers,
					'body'    => 'GET' === $method ? null : $body,
					'timeout' => $timeout,
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
		return self::stream_post( $url, $headers, $body, $timeout, $method );
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
