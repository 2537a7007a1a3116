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
	$pipes
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
$started  = microtime( true );
check( null === $local->prices( 'SLOW', array( 'A-1' => 1 ) ), 'a slow API gives regular prices' );
$took = microtime( true ) - $started;
check( $took < 2.5, sprintf( 'and the shop waits no longer than the timeout (%.2f s)', $took ) );
check( 1 === count( $warnings ), 'with one warning: ' . implode( '|', $warnings ) );
check( null === $local->prices( 'BROKEN', array( 'A-1' => 1 ) ), 'a 500 gives regular prices' );
check( null === $local->prices( 'GARBLED', array( 'A-1' => 1 ) ), 'a proxy page gives regular prices' );
$wrong_key = new CPBridge_Pricing_Client( "http://127.0.0.1:$port", 'wrong', 1.5, null, $logger );
check( null === $wrong_key->prices( 'C1', array( 'A-1' => 1 ) ), 'a refused key gives regular prices' );
$down = new CPBridge_Pricing_Client( 'http://127.0.0.1:9', 'test-key', 1.5, null, $logger );
$started = microtime( true );
check( null === $down->prices( 'C1', array( 'A-1' => 1 ) ), 'nothing listening gives regular prices' );
check( microtime( true ) - $started < 2.5, 'and at once' );
check( null === $local->prices( '', array( 'A-1' => 1 ) ), 'a customer without a CUST_NO is not asked about' );

// --- the customer lookup by e-mail, for an account with no link ---
check( 'C1' === $local->customer_by_email( 'known+1@example.test' ), 'a known address gives its CUST_NO (the + survives the URL)' );
check( '' === $local->customer_by_email( 'nobody@example.test' ), 'an unknown address is a definite no' );
$started = microtime( true );
check( null === $local->customer_by_email( 'slow@example.test' ), 'a slow lookup is no answer' );
check( microtime( true ) - $started < 2.5, 'and waits no longer than the timeout' );
check( null === $down->customer_by_email( 'known+1@example.test' ), 'nothing listening is no answer' );

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
