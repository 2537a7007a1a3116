<?php
/**
 * Plugin Name:       cpbridge pricing
 * Description:       Shows logged-in customers their NCR Counterpoint contract prices, from cpbridge's pricing API. If the API is slow or down, the shop shows regular prices.
 * Version:           0.1.0
 * Requires at least: 6.0
 * Requires PHP:      7.4
 * Author:            cpbridge
 * License:           MIT
 * Text Domain:       cpbridge-pricing
 * WC requires at least: 8.0
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

require_once __DIR__ . '/includes/class-cpbridge-pricing-client.php';

/**
 * The WooCommerce side: which prices to ask for, when, and where to put them.
 *
 * One API call per page (every product the page shows) or per cart calculation; answers are kept in the
 * customer's session for a short while, so browsing does not call the API on every page.
 */
final class CPBridge_Pricing {
	const OPTION = 'cpbridge_pricing';

	/** @var array|null SKU => price for this request; null until fetched. */
	private static $prices = null;

	/** @var array spl_object_id of a cart line's product => the price for the line's quantity. */
	private static $cart_prices = array();

	/** How long the API stays closed for every request after it failed or timed out, in seconds. */
	const CIRCUIT_SECONDS = 30;

	/** Forgets what this request learned (PHP starts each request afresh; the tests call this between pages). */
	public static function new_request() {
		self::$prices      = null;
		self::$cust_no     = null;
		self::$cart_prices = array();
		CPBridge_Pricing_Client::new_request();
	}

	public static function boot() {
		add_action( 'admin_menu', array( __CLASS__, 'settings_page' ) );
		add_action( 'admin_init', array( __CLASS__, 'register_settings' ) );
		foreach ( array( 'woocommerce_product_get_price', 'woocommerce_product_variation_get_price' ) as $hook ) {
			add_filter( $hook, array( __CLASS__, 'price' ), 20, 2 );
		}
		add_filter( 'woocommerce_get_price_html', array( __CLASS__, 'price_html' ), 20, 2 );
		add_action( 'woocommerce_before_calculate_totals', array( __CLASS__, 'cart_prices' ), 20, 1 );
	}

	public static function settings() {
		$saved = get_option( self::OPTION, array() );
		return wp_parse_args(
			is_array( $saved ) ? $saved : array(),
			array(
				'api_url'   => '',
				'api_key'   => '',
				'timeout'   => 1.5,
				'cache_ttl' => 60,
			)
		);
	}

	/** @var string|null The logged-in customer's number for this request; null until looked up. */
	private static $cust_no = null;

	/**
	 * The logged-in customer's Counterpoint number: the `cp_cust_no` user meta written by cpbridge's customer sync
	 * (WooCommerce's REST API drops `_`-prefixed meta, so that is the key that sticks; `_cp_cust_no` set by hand
	 * still counts). An account without either is looked up once by its e-mail address and the answer kept in its
	 * meta; a miss is remembered for an hour, a failed lookup for five minutes, so no page waits on it twice.
	 */
	private static function cust_no() {
		if ( null !== self::$cust_no ) {
			return self::$cust_no;
		}
		self::$cust_no = '';
		$user          = get_current_user_id();
		if ( ! $user ) {
			return '';
		}
		foreach ( array( 'cp_cust_no', '_cp_cust_no' ) as $key ) {
			$linked = (string) get_user_meta( $user, $key, true );
			if ( '' !== $linked ) {
				self::$cust_no = $linked;
				return $linked;
			}
		}
		$miss = 'cpbridge_no_cust_no_' . $user;
		if ( get_transient( $miss ) || get_transient( 'cpbridge_api_down' ) ) {
			return '';
		}
		$account = wp_get_current_user();
		$found   = self::client()->customer_by_email( $account ? $account->user_email : '' );
		if ( is_string( $found ) && '' !== $found ) {
			update_user_meta( $user, 'cp_cust_no', $found );
			self::$cust_no = $found;
			return $found;
		}
		set_transient( $miss, 1, '' === $found ? HOUR_IN_SECONDS : 5 * MINUTE_IN_SECONDS );
		return '';
	}

	private static function client() {
		$s      = self::settings();
		$client = new CPBridge_Pricing_Client( $s['api_url'], $s['api_key'], (float) $s['timeout'] );
		// One failure keeps the API closed for every page (and every PHP worker) for a while, so a hung cpbridge
		// costs the shop one timeout, not one per request.
		$client->on_failure(
			function () {
				set_transient( 'cpbridge_api_down', 1, self::CIRCUIT_SECONDS );
			}
		);
		return $client;
	}

	/** Prices for these SKUs (SKU => qty), from the session cache or one API call; null means regular prices. */
	private static function fetch( array $items ) {
		$cust_no = self::cust_no();
		if ( '' === $cust_no || empty( $items ) ) {
			return null;
		}
		$s       = self::settings();
		$key     = 'cpbridge_prices_' . md5( $cust_no . '|' . wp_json_encode( $items ) );
		$session = function_exists( 'WC' ) && WC()->session ? WC()->session : null;
		if ( $session ) {
			$cached = $session->get( $key );
			if ( is_array( $cached ) && isset( $cached['at'], $cached['prices'] ) && time() - $cached['at'] < (int) $s['cache_ttl'] ) {
				return $cached['prices'];
			}
		}
		if ( get_transient( 'cpbridge_api_down' ) ) {
			return null;
		}
		$prices = self::client()->prices( $cust_no, $items );
		if ( $session && is_array( $prices ) ) {
			$session->set( $key, array( 'at' => time(), 'prices' => $prices ) );
		}
		return $prices;
	}

	/** Every product the current page lists, priced in one call the first time a price is asked for. */
	private static function page_prices() {
		if ( null !== self::$prices ) {
			return self::$prices;
		}
		self::$prices = array();
		global $wp_query;
		$items = array();
		$posts = isset( $wp_query->posts ) && is_array( $wp_query->posts ) ? $wp_query->posts : array();
		foreach ( $posts as $post ) {
			$product = wc_get_product( $post );
			if ( ! $product ) {
				continue;
			}
			// The product, its variations, and what its page shows beside it: all in the page's one call.
			$ids = array_merge(
				array( $product->get_id() ),
				$product->get_children(),
				$product->get_upsell_ids(),
				$product->get_cross_sell_ids(),
				function_exists( 'wc_get_related_products' ) ? wc_get_related_products( $product->get_id() ) : array()
			);
			foreach ( $ids as $id ) {
				$sku = get_post_meta( $id, '_sku', true );
				if ( '' !== $sku ) {
					$items[ $sku ] = 1;
				}
			}
		}
		$prices       = self::fetch( $items );
		self::$prices = is_array( $prices ) ? $prices : array();
		return self::$prices;
	}

	public static function price( $price, $product ) {
		if ( is_admin() && ! wp_doing_ajax() ) {
			return $price;
		}
		// A cart line's product keeps the price for the line's quantity (its break), never the page's one-unit price.
		$id = spl_object_id( $product );
		if ( isset( self::$cart_prices[ $id ] ) ) {
			return self::$cart_prices[ $id ];
		}
		$sku = $product->get_sku();
		if ( '' === $sku || '' === self::cust_no() ) {
			return $price;
		}
		// One call per page: a product outside the page's list (a widget of another plugin) shows its regular
		// price rather than costing a request of its own.
		$prices = self::page_prices();
		return isset( $prices[ $sku ] ) ? $prices[ $sku ] : $price;
	}

	/** The contract price as the displayed price, with the regular one struck through when it is lower. */
	public static function price_html( $html, $product ) {
		$sku     = $product->get_sku();
		$regular = (float) $product->get_regular_price();
		$prices  = '' !== self::cust_no() ? self::page_prices() : array();
		if ( '' === $sku || ! isset( $prices[ $sku ] ) || (float) $prices[ $sku ] >= $regular ) {
			return $html;
		}
		return wc_format_sale_price( wc_get_price_to_display( $product, array( 'price' => $regular ) ), wc_get_price_to_display( $product, array( 'price' => $prices[ $sku ] ) ) );
	}

	/** The cart: one call for every line with its quantity (quantity breaks apply), before totals are computed. */
	public static function cart_prices( $cart ) {
		if ( ( is_admin() && ! wp_doing_ajax() ) || ! $cart || '' === self::cust_no() ) {
			return;
		}
		$items = array();
		foreach ( $cart->get_cart() as $line ) {
			$sku = $line['data']->get_sku();
			if ( '' !== $sku ) {
				$items[ $sku ] = ( isset( $items[ $sku ] ) ? $items[ $sku ] : 0 ) + (float) $line['quantity'];
			}
		}
		$prices = self::fetch( $items );
		if ( ! is_array( $prices ) ) {
			return; // Fail open: the regular prices stand.
		}
		foreach ( $cart->get_cart() as $line ) {
			$sku = $line['data']->get_sku();
			if ( isset( $prices[ $sku ] ) ) {
				$line['data']->set_price( $prices[ $sku ] );
				self::$cart_prices[ spl_object_id( $line['data'] ) ] = $prices[ $sku ];
			}
		}
	}

	public static function register_settings() {
		register_setting(
			'cpbridge_pricing',
			self::OPTION,
			array(
				'type'              => 'array',
				'sanitize_callback' => array( __CLASS__, 'sanitize' ),
			)
		);
	}

	public static function sanitize( $input ) {
		$input = is_array( $input ) ? $input : array();
		return array(
			'api_url'   => esc_url_raw( isset( $input['api_url'] ) ? trim( $input['api_url'] ) : '' ),
			'api_key'   => sanitize_text_field( isset( $input['api_key'] ) ? $input['api_key'] : '' ),
			'timeout'   => min( 10, max( 0.2, (float) ( isset( $input['timeout'] ) ? $input['timeout'] : 1.5 ) ) ),
			'cache_ttl' => min( 3600, max( 0, (int) ( isset( $input['cache_ttl'] ) ? $input['cache_ttl'] : 60 ) ) ),
		);
	}

	public static function settings_page() {
		add_options_page( 'cpbridge pricing', 'cpbridge pricing', 'manage_options', 'cpbridge-pricing', array( __CLASS__, 'render_settings' ) );
	}

	public static function render_settings() {
		$s = self::settings();
		?>
		<div class="wrap">
			<h1>cpbridge pricing</h1>
			<p>Logged-in customers whose account carries a Counterpoint customer number see their contract prices. If the API is slower than the timeout or down, regular prices are shown and a warning is logged.</p>
			<form method="post" action="options.php">
				<?php settings_fields( 'cpbridge_pricing' ); ?>
				<table class="form-table">
					<tr><th><label for="cpbridge-url">API URL</label></th>
						<td><input id="cpbridge-url" class="regular-text" name="<?php echo esc_attr( self::OPTION ); ?>[api_url]" value="<?php echo esc_attr( $s['api_url'] ); ?>" placeholder="https://cpbridge.example.com"></td></tr>
					<tr><th><label for="cpbridge-key">API key</label></th>
						<td><input id="cpbridge-key" class="regular-text" type="password" autocomplete="off" name="<?php echo esc_attr( self::OPTION ); ?>[api_key]" value="<?php echo esc_attr( $s['api_key'] ); ?>"></td></tr>
					<tr><th><label for="cpbridge-timeout">Timeout (seconds)</label></th>
						<td><input id="cpbridge-timeout" type="number" step="0.1" min="0.2" max="10" name="<?php echo esc_attr( self::OPTION ); ?>[timeout]" value="<?php echo esc_attr( $s['timeout'] ); ?>"></td></tr>
					<tr><th><label for="cpbridge-ttl">Cache lifetime (seconds)</label></th>
						<td><input id="cpbridge-ttl" type="number" min="0" max="3600" name="<?php echo esc_attr( self::OPTION ); ?>[cache_ttl]" value="<?php echo esc_attr( $s['cache_ttl'] ); ?>"></td></tr>
				</table>
				<?php submit_button(); ?>
			</form>
		</div>
		<?php
	}
}

CPBridge_Pricing::boot();
