#!/bin/sh
# generate.sh regenerates onnx.pb.go from onnx.proto; `go generate
# ./scoring/onnxmodel` runs it.
#
# onnx.proto is an unmodified copy of the file that Debian's python3-onnx
# 1.12.0-2+b4 package installs as /usr/lib/python3/dist-packages/onnx/onnx.proto
# (ONNX 1.12.0, IR_VERSION 8; sha256
# a96f50c0fe1ff9180b6025843d4f7efcf53b024c83db55a36cd24a1e44345182). It is
# kept byte-for-byte; the Go package is set with protoc's M option (the
# command-line form of `option go_package`) instead of editing the file.
#
# Tools (Debian 13): apt-get install -y protobuf-compiler  (protoc 3.21.12)
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
# protoc-gen-go must match google.golang.org/protobuf in go.mod.
set -eu
cd "$(dirname "$0")"

want=v1.36.12
PATH="$(go env GOPATH)/bin:$PATH"
have=$(protoc-gen-go --version | awk '{print $2}')
if [ "$have" != "$want" ]; then
	echo "generate.sh: protoc-gen-go is $have, want $want:" >&2
	echo "  go install google.golang.org/protobuf/cmd/protoc-gen-go@$want" >&2
	exit 1
fi

protoc --proto_path=. \
	--go_out=. --go_opt=paths=source_relative \
	--go_opt=Monnx.proto='screend/scoring/onnxmodel;onnxmodel' \
	onnx.proto
