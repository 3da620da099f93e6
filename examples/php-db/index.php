<?php
// Answers with a greeting read from the database that `gasper db link DB APP` gave it as
// DATABASE_URL (PostgreSQL or MySQL), through PDO.
$url = getenv('DATABASE_URL');
if (!$url) {
    // Not an error of the app: it serves (and passes its health check) until linked.
    echo "no DATABASE_URL: link a database with: gasper db link DB APP\n";
    exit;
}
$u = parse_url($url);
$drivers = ['postgres' => 'pgsql', 'postgresql' => 'pgsql', 'mysql' => 'mysql'];
if (!isset($drivers[$u['scheme']])) {
    http_response_code(500);
    echo "this example speaks PostgreSQL and MySQL, not {$u['scheme']}\n";
    exit;
}
$dsn = sprintf('%s:host=%s;port=%d;dbname=%s', $drivers[$u['scheme']], $u['host'], $u['port'], ltrim($u['path'], '/'));
try {
    $db = new PDO($dsn, urldecode($u['user']), urldecode($u['pass']), [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
    $db->exec('CREATE TABLE IF NOT EXISTS greetings (id INT PRIMARY KEY, message TEXT)');
    $message = $db->query('SELECT message FROM greetings WHERE id = 1')->fetchColumn();
    echo ($message === false ? 'no greeting yet' : $message) . "\n";
} catch (PDOException $e) {
    http_response_code(500);
    echo 'database error: ' . $e->getMessage() . "\n";
}
