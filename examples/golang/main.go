// Command hello is Gasper's Go example: it greets with $GREETING on $PORT.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"runtime"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "golang %s: hello=%s\n", runtime.Version(), os.Getenv("GREETING"))
	})
	log.Fatal(http.ListenAndServe("0.0.0.0:"+port, nil))
}
