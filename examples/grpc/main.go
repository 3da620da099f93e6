// Command grpc is Gasper's gRPC example: a plain (h2c) gRPC server on $PORT
// with the standard health service and echo.Echo, whose Chat method echoes
// each message of a bidirectional stream and whose Say method echoes one.
// Messages are google.protobuf.StringValue, so no generated code is needed.
// Create it with --health-tcp: it does not answer HTTP/1.1 health checks.
package main

import (
	"context"
	"io"
	"log"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// echoServer is the (empty) implementation type the service description
// names; the handlers below do the work.
type echoServer interface{}

// echoService is echo.Echo, written by hand as protoc-gen-go-grpc would.
var echoService = grpc.ServiceDesc{
	ServiceName: "echo.Echo",
	HandlerType: (*echoServer)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "Say",
		Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			in := new(wrapperspb.StringValue)
			if err := dec(in); err != nil {
				return nil, err
			}
			return wrapperspb.String("echo: " + in.GetValue()), nil
		},
	}},
	Streams: []grpc.StreamDesc{{
		StreamName:    "Chat",
		ServerStreams: true,
		ClientStreams: true,
		Handler: func(_ any, stream grpc.ServerStream) error {
			for {
				in := new(wrapperspb.StringValue)
				if err := stream.RecvMsg(in); err == io.EOF {
					return nil
				} else if err != nil {
					return err
				}
				if err := stream.SendMsg(wrapperspb.String("echo: " + in.GetValue())); err != nil {
					return err
				}
			}
		},
	}},
}

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	ln, err := net.Listen("tcp", "0.0.0.0:"+port)
	if err != nil {
		log.Fatal(err)
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	s.RegisterService(&echoService, struct{}{})
	log.Printf("gRPC example listening on %s", ln.Addr())
	log.Fatal(s.Serve(ln))
}
