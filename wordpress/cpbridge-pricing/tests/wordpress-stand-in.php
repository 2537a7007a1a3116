<?php
/**
 * Just enough of WordPress and WooCommerce for the plugin's hooks to run outside a site: options, user meta,
 * transients, the session, products and a cart. Each stand-in does what WordPress's function of the same name does
 * with the arguments the plugin passes; nothing more.
 */
define( 'ABSPATH', __DIR__ . '/' );
define( 'HOUR_IN_SECONDS', 3600 );
define( 'MINUTE_IN_SECONDS', 60 );

$GLOBALS['cpbridge_test'] = array(
	'options'    => array(),
	'user'       => 0,
	'user_email' => '',
	'user_meta'  => array(),
	'transients' => array(),
	'session'    => array(),
	'products'   => array(),
);

function add_action( $hook, $callback, $priority = 10, $args = 1 ) {}
function add_filter( $hook, $callback, $priority = 10, $args = 1 ) {}
function get_option( $name, $default = false ) {
	return isset( $GLOBALS['cpbridge_test']['options'][ $name ] ) ? $GLOBALS['cpbridge_test']['options'][ $name ] : $default;
}
function wp_parse_args( $args, $defaults ) {
	return array_merge( $defaults, $args );
}
function get_current_user_id() {
	return $GLOBALS['cpbridge_test']['user'];
}
function wp_get_current_user() {
	return (object) array( 'user_email' => $GLOBALS['cpbridge_test']['user_email'] );
}
function get_user_meta( $user, $key, $single ) {
	return isset( $GLOBALS['cpbridge_test']['user_meta'][ $user ][ $key ] ) ? $GLOBALS['cpbridge_test']['user_meta'][ $user ][ $key ] : '';
}
function update_user_meta( $user, $key, $value ) {
	$GLOBALS['cpbridge_test']['user_meta'][ $user ][ $key ] = $value;
	return true;
}
function get_transient( $name ) {
	$t = isset( $GLOBALS['cpbridge_test']['transients'][ $name ] ) ? $GLOBALS['cpbridge_test']['transients'][ $name ] : null;
	return $t && $t['until'] > time() ? $t['value'] : false;
}
function set_transient( $name, $value, $seconds ) {
	$GLOBALS['cpbridge_test']['transients'][ $name ] = array( 'value' => $value, 'until' => time() + $seconds );
	return true;
}
function is_admin() {
	return false;
}
function wp_doing_ajax() {
	return false;
}
function wp_json_encode( $value ) {
	return json_encode( $value );
}
function wc_get_product( $post ) {
	$id = is_object( $post ) ? $post->ID : $post;
	return isset( $GLOBALS['cpbridge_test']['products'][ $id ] ) ? $GLOBALS['cpbridge_test']['products'][ $id ] : null;
}
function get_post_meta( $id, $key, $single ) {
	$product = wc_get_product( $id );
	return $product && '_sku' === $key ? $product->get_sku() : '';
}
function wc_get_related_products( $id ) {
	return array();
}

/** The session WooCommerce keeps per visitor. */
class CPBridge_Test_Session {
	public function get( $key ) {
		return isset( $GLOBALS['cpbridge_test']['session'][ $key ] ) ? $GLOBALS['cpbridge_test']['session'][ $key ] : null;
	}
	public function set( $key, $value ) {
		$GLOBALS['cpbridge_test']['session'][ $key ] = $value;
	}
}

function WC() {
	static $wc = null;
	if ( null === $wc ) {
		$wc          = new stdClass();
		$wc->session = new CPBridge_Test_Session();
	}
	return $wc;
}

/** A simple product: its price is what the price filter makes of the stored one, as in WooCommerce. */
class CPBridge_Test_Product {
	private $id;
	private $sku;
	private $price;
	public function __construct( $id, $sku, $price ) {
		$this->id    = $id;
		$this->sku   = $sku;
		$this->price = $price;
		$GLOBALS['cpbridge_test']['products'][ $id ] = $this;
	}
	public function get_id() {
		return $this->id;
	}
	public function get_sku() {
		return $this->sku;
	}
	public function get_children() {
		return array();
	}
	public function get_upsell_ids() {
		return array();
	}
	public function get_cross_sell_ids() {
		return array();
	}
	public function set_price( $price ) {
		$this->price = $price;
	}
	public function get_price() {
		return CPBridge_Pricing::price( $this->price, $this );
	}
}

/** A cart: lines of a product and a quantity. */
class CPBridge_Test_Cart {
	private $lines;
	public function __construct( array $lines ) {
		$this->lines = $lines;
	}
	public function get_cart() {
		return $this->lines;
	}
}
