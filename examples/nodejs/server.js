const http = require("http");

http
  .createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.end(`nodejs ${process.version}: hello=${process.env.GREETING || ""}\n`);
  })
  .listen(Number(process.env.PORT || 8080), "0.0.0.0");
