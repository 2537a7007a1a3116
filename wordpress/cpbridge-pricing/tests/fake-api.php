<?php
/**
 * A stand-in for cpbridge's pricing API, served by `php -S` in the tests. The customer in the request decides
 * how it behaves: SLOW answers after 3 s, BROKEN with 500, GARBLED with text that is not JSON.
 */
$body     = json_decode( (string) file_get_contents( 'php://input' ), true );
$customer = is_array( $body ) && isset( $body['customer'] ) ? $body['customer'] : '';
header( 'Content-Type: application/json' );
if ( ( isset( $_SERVER['HTTP_AUTHORIZATION'] ) ? $_SERVER['HTTP_AUTHORIZATION'] : '' ) !== 'Bearer test-key' ) {
	http_response_code( 401 );
	echo json_encode( array( 'error' => 'a valid API key is required' ) );
	return;
}
if ( 0 === strpos( $_SERVER['REQUEST_URI'], '/api/v1/customers/by-email' ) ) {
	$email = isset( $_GET['email'] ) ? $_GET['email'] : '';
	if ( 'slow@example.test' === $email ) {
		sleep( 3 );
	}
	if ( 'GET' !== $_SERVER['REQUEST_METHOD'] || 'known+1@example.test' !== $email ) {
		http_response_code( 404 );
		echo json_encode( array( 'error' => 'no Counterpoint customer has that e-mail address' ) );
		return;
	}
	echo json_encode( array( 'customer' => 'C1', 'email' => $email ) );
	return;
}
if ( 'SLOW' === $customer ) {
	sleep( 3 );
}
if ( 'BROKEN' === $customer ) {
	http_response_code( 500 );
	echo json_encode( array( 'error' => 'internal' ) );
	return;
}
if ( 'GARBLED' === $customer ) {
	echo '<html>proxy error</html>';
	return;
}
$items = array();
foreach ( $body['items'] as $item ) {
	$items[] = array(
		'sku'           => $item['sku'],
		'qty'           => (string) $item['qty'],
		'unit_price'    => $item['qty'] >= 10 ? '9.00' : '10.00',
		'regular_price' => '12.00',
		'rule'          => null,
		'reason'        => 'fake',
	);
}
echo json_encode( array( 'customer' => $customer, 'currency' => 'USD', 'items' => $items ) );
