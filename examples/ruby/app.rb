require "webrick"

server = WEBrick::HTTPServer.new(BindAddress: "0.0.0.0", Port: Integer(ENV.fetch("PORT", "8080")))
server.mount_proc "/" do |_req, res|
  res["Content-Type"] = "text/plain"
  res.body = "ruby #{RUBY_VERSION}: hello=#{ENV["GREETING"]}\n"
end
trap("TERM") { server.shutdown }
server.start
