<?php
/**
 * The plugin's tests, with plain `php tests/run.php` (no WordPress needed): how the request is built, how answers
 * are read, and that every failure (slow, down, refused, garbled) fails open to regular prices with a warning.
 * With CPBRIDGE_API_URL, CPBRIDGE_API_KEY, CPBRIDGE_API_CUSTOMER, CPBRIDGE_API_SKU and CPBRIDGE_API_EXPECT set,
 * it also asks a real cpbridge (the Rust black-box test does that).
 */
define( 'CPBRIDGE_PRICING_TESTING', true );
require __DIR__ . '/../includes/class-cpbridge-pricing-client.php';

$failures = 0;
$checks   = 0;
function check( $ok, $what ) {
	global $failures, $checks;
	$checks++;
	if ( ! $ok ) {
		$failures++;
		fwrite( STDERR, "FAIL: $what\n" );
	}
}

$warnings = array();
$logger   = function ( $m ) use ( &$warnings ) {
	$warnings[] = $m;
};

// --- the request ---
$client  = new CPBridge_Pricing_Client( 'https://cp.example.test/', 'k-123', 1.5, null, $logger );
$request = $client->build_request( 'C000001', array( 'A-1' => 2, 'B-2' => 0, '' => 5 ) );
check( 'https://cp.example.test/api/v1/prices' === $request['url'], 'the URL has no double slash' );
check( 'Bearer k-123' === $request['headers']['Authorization'], 'the key is a bearer token' );
check(
	'{"customer":"C000001","items":[{"sku":"A-1","qty":2},{"sku":"B-2","qty":1}]}' === $request['body'],
	'one body for every SKU, quantities at least 1, empty SKUs left out: ' . $request['body']
);

// --- reading answers ---
$good = '{"customer":"C1","currency":"USD","items":[{"sku":"A-1","unit_price":"8.50"},{"sku":"B-2"},{"sku":"C-3","unit_price":"x"}]}';
check( array( 'A-1' => '8.50' ) === $client->parse_response( 200, $good ), 'prices are read; items without a usable price are skipped' );
$warnings = array();
check( null === $client->parse_response( 404, '{"error":"unknown customer \"X\""}' ), 'a 404 gives no prices' );
check( 1 === count( $warnings ) && false !== strpos( $warnings[0], 'unknown customer' ), 'and says why: ' . implode( '|', $warnings ) );
check( null === $client->parse_response( 200, 'not json' ), 'an unreadable answer gives no prices' );

// --- against a local HTTP server ---
$probe = stream_socket_server( 'tcp://127.0.0.1:0' );
$port  = (int) substr( strrchr( stream_socket_get_name( $probe, false ), ':' ), 1 );
fclose( $probe );
$server = proc_open(
	array( PHP_BINARY, '-S', "127.0.0.1:$port", __DIR__ . '/fake-api.php' ),
	array( 0 => array( 'pipe', 'r' ), 1 => array( 'file', '/dev/null', 'w' ), 2 => array( 'file', '/dev/null', 'w' ) ),
	$pipes,
	null,
	// Several workers, so a request the stand-in answers slowly does not hold up the next test's.
	array_merge( getenv(), array( 'PHP_CLI_SERVER_WORKERS' => '4' ) )
);
register_shutdown_function( function () use ( $server ) {
	proc_terminate( $server );
} );
for ( $i = 0; $i < 50; $i++ ) {
	$socket = @fsockopen( '127.0.0.1', $port, $errno, $errstr, 0.1 );
	if ( $socket ) {
		fclose( $socket );
		break;
	}
	usleep( 100000 );
}
$local = new CPBridge_Pricing_Client( "http://127.0.0.1:$port", 'test-key', 1.5, null, $logger );
check( array( 'A-1' => '10.00', 'B-2' => '9.00' ) === $local->prices( 'C1', array( 'A-1' => 1, 'B-2' => 12 ) ), 'prices from the API, with the quantity sent' );

$warnings = array();
CPBridge_Pricing_Client::new_request();
$started = microtime( true );
check( null === $local->prices( 'SLOW', array( 'A-1' => 1 ) ), 'a slow API gives regular prices' );
$took = microtime( true ) - $started;
check( $took < 2.5, sprintf( 'and the shop waits no longer than the timeout (%.2f s)', $took ) );
check( 1 === count( $warnings ), 'with one warning: ' . implode( '|', $warnings ) );
CPBridge_Pricing_Client::new_request();
check( null === $local->prices( 'BROKEN', array( 'A-1' => 1 ) ), 'a 500 gives regular prices' );
CPBridge_Pricing_Client::new_request();
check( null === $local->prices( 'GARBLED', array( 'A-1' => 1 ) ), 'a proxy page gives regular prices' );
CPBridge_Pricing_Client::new_request();
$wrong_key = new CPBridge_Pricing_Client( "http://127.0.0.1:$port", 'wrong', 1.5, null, $logger );
check( null === $wrong_key->prices( 'C1', array( 'A-1' => 1 ) ), 'a refused key gives regular prices' );
check( is_array( $local->prices( 'C1', array( 'A-1' => 1 ) ) ), 'and a refusal is not an outage: the next call is made' );
CPBridge_Pricing_Client::new_request();
$down = new CPBridge_Pricing_Client( 'http://127.0.0.1:9', 'test-key', 1.5, null, $logger );
$started = microtime( true );
check( null === $down->prices( 'C1', array( 'A-1' => 1 ) ), 'nothing listening gives regular prices' );
check( microtime( true ) - $started < 2.5, 'and at once' );
CPBridge_Pricing_Client::new_request();
check( null === $local->prices( '', array( 'A-1' => 1 ) ), 'a customer without a CUST_NO is not asked about' );

// --- a page's budget: one timeout in total, whatever happens and however many prices the page shows ---
// A server that accepts connections and never answers (the kernel completes the handshake; nobody reads).
$hung_server = stream_socket_server( 'tcp://127.0.0.1:0' );
$hung_port   = (int) substr( strrchr( stream_socket_get_name( $hung_server, false ), ':' ), 1 );
foreach (
	array(
		'a server that never answers' => "http://127.0.0.1:$hung_port",
		'a slow server'               => "http://127.0.0.1:$port",
		'a refused port'              => 'http://127.0.0.1:9',
	) as $what => $address
) {
	CPBridge_Pricing_Client::new_request();
	$failures_seen = 0;
	$page          = new CPBridge_Pricing_Client( $address, 'test-key', 1.0, null, $logger );
	$page->on_failure(
		function () use ( &$failures_seen ) {
			$failures_seen++;
		}
	);
	$started = microtime( true );
	$answers = array();
	// A shop page: the page's list, ten widgets, the customer lookup, and the cart.
	$answers[] = $page->prices( 'SLOW', array( 'A-1' => 1, 'B-2' => 1 ) );
	for ( $i = 0; $i < 10; $i++ ) {
		$answers[] = $page->prices( 'SLOW', array( "W-$i" => 1 ) );
	}
	$answers[] = $page->customer_by_email( 'known+1@example.test' );
	$answers[] = $page->prices( 'SLOW', array( 'A-1' => 12 ) );
	$took      = microtime( true ) - $started;
	check( array() === array_filter( $answers, 'is_array' ), "$what: regular prices everywhere on the page" );
	check( $took < 1.5, sprintf( '%s: the page waited %.2f s in all, within its 1 s timeout and a margin', $what, $took ) );
	check( 1 === $failures_seen, "$what: one failure opens the circuit ($failures_seen seen)" );
}
CPBridge_Pricing_Client::new_request();

// --- the customer lookup by e-mail, for an account with no link ---
check( 'C1' === $local->customer_by_email( 'known+1@example.test' ), 'a known address gives its CUST_NO (the + survives the URL)' );
check( '' === $local->customer_by_email( 'nobody@example.test' ), 'an unknown address is a definite no' );
$started = microtime( true );
CPBridge_Pricing_Client::new_request();
check( null === $local->customer_by_email( 'slow@example.test' ), 'a slow lookup is no answer' );
check( microtime( true ) - $started < 2.5, 'and waits no longer than the timeout' );
CPBridge_Pricing_Client::new_request();
check( null === $down->customer_by_email( 'known+1@example.test' ), 'nothing listening is no answer' );
CPBridge_Pricing_Client::new_request();

// --- the plugin's hooks, in a stand-in WordPress (tests/wordpress-stand-in.php) ---
require __DIR__ . '/wordpress-stand-in.php';
require __DIR__ . '/../cpbridge-pricing.php';
CPBridge_Pricing::new_request();
$GLOBALS['cpbridge_test']['options']['cpbridge_pricing'] = array(
	'api_url'   => "http://127.0.0.1:$port",
	'api_key'   => 'test-key',
	'timeout'   => 1.0,
	'cache_ttl' => 60,
);
// A customer whose account has no link yet: found by the account's e-mail, and the link kept.
$GLOBALS['cpbridge_test']['user']       = 7;
$GLOBALS['cpbridge_test']['user_email'] = 'known+1@example.test';
$kite              = new CPBridge_Test_Product( 11, 'A-1', '12.00' );
$GLOBALS['wp_query'] = (object) array( 'posts' => array( (object) array( 'ID' => 11 ) ) );
check( '10.00' === $kite->get_price(), 'the product page shows the contract price for one unit: ' . $kite->get_price() );
check( 'C1' === get_user_meta( 7, 'cp_cust_no', true ), 'the account found by its e-mail keeps its link' );
// The cart's line has its own product object, as in WooCommerce; 12 units reach the 10-unit break (9.00).
$line = new CPBridge_Test_Product( 11, 'A-1', '12.00' );
CPBridge_Pricing::cart_prices( new CPBridge_Test_Cart( array( array( 'data' => $line, 'quantity' => 12 ) ) ) );
check( '9.00' === $line->get_price(), 'a cart line of 12 keeps the 12-unit price, not the page price: ' . $line->get_price() );
check( '10.00' === $kite->get_price(), 'and the product page still shows the one-unit price' );

// A hung cpbridge: the page waits one timeout at most, shows regular prices, and the next page does not wait.
CPBridge_Pricing::new_request();
$GLOBALS['cpbridge_test']['options']['cpbridge_pricing']['api_url'] = "http://127.0.0.1:$hung_port";
$GLOBALS['cpbridge_test']['session']                                = array();
$shelf                                                              = array();
for ( $i = 0; $i < 12; $i++ ) {
	$shelf[] = new CPBridge_Test_Product( 100 + $i, "S-$i", '5.00' );
}
$GLOBALS['wp_query'] = (object) array( 'posts' => array_map( function ( $p ) {
	return (object) array( 'ID' => $p->get_id() );
}, $shelf ) );
$started = microtime( true );
$shown   = array_map( function ( $p ) {
	return $p->get_price();
}, $shelf );
CPBridge_Pricing::cart_prices( new CPBridge_Test_Cart( array( array( 'data' => $shelf[0], 'quantity' => 3 ) ) ) );
$took = microtime( true ) - $started;
check( array( '5.00' ) === array_values( array_unique( $shown ) ), 'a hung API: every product shows its regular price' );
check( $took < 1.5, sprintf( 'a hung API: the shop page waited %.2f s in all (timeout 1 s)', $took ) );
check( false !== get_transient( 'cpbridge_api_down' ), 'and the API is closed for the next requests' );
CPBridge_Pricing::new_request();
$started = microtime( true );
$again   = $shelf[1]->get_price();
check( '5.00' === $again && microtime( true ) - $started < 0.2, 'the next page does not wait at all' );
fclose( $hung_server );
$GLOBALS['cpbridge_test']['transients'] = array();
CPBridge_Pricing::new_request();

// --- against a real cpbridge, when one is named ---
$url = getenv( 'CPBRIDGE_API_URL' );
if ( $url ) {
	$real   = new CPBridge_Pricing_Client( $url, getenv( 'CPBRIDGE_API_KEY' ), 5, null, $logger );
	$sku    = getenv( 'CPBRIDGE_API_SKU' );
	$prices = $real->prices( getenv( 'CPBRIDGE_API_CUSTOMER' ), array( $sku => (float) getenv( 'CPBRIDGE_API_QTY' ) ) );
	check( is_array( $prices ) && isset( $prices[ $sku ] ) && $prices[ $sku ] === getenv( 'CPBRIDGE_API_EXPECT' ), 'the real API: ' . json_encode( $prices ) . ' ' . implode( '|', $warnings ) );
	$email = getenv( 'CPBRIDGE_API_EMAIL' );
	if ( $email ) {
		$found = $real->customer_by_email( $email );
		check( getenv( 'CPBRIDGE_API_CUSTOMER' ) === $found, 'the real API finds the customer by e-mail: ' . var_export( $found, true ) );
		$cust_no = is_string( $found ) ? $found : '';
		$by_mail = $real->prices( $cust_no, array( $sku => (float) getenv( 'CPBRIDGE_API_QTY' ) ) );
		check( is_array( $by_mail ) && isset( $by_mail[ $sku ] ) && $by_mail[ $sku ] === getenv( 'CPBRIDGE_API_EXPECT' ), 'and its contract price: ' . json_encode( $by_mail ) );
	}
}

echo "$checks checks, $failures failed\n";
exit( $failures > 0 ? 1 : 0 );
