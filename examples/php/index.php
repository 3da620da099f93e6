<?php
header('Content-Type: text/plain');
echo 'php ' . PHP_VERSION . ': hello=' . getenv('GREETING') . "\n";
