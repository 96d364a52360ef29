#!/usr/bin/env python3
"""Streams a chat answer from a Sluice gateway, printing tokens as they arrive.

Needs only the gRPC runtime (Debian: python3-grpcio) and stubs generated from the Sluice protos
(see README.md in this directory). Example, with `bin/sluice dev` running:

    python3 stream_chat.py --target 127.0.0.1:50051 --model mock-chat "Hello"

The answer goes to stdout; the usage line and errors go to stderr. Exit status: 0 on success,
1 when the gateway returns an error, 130 after Ctrl-C (which cancels the call on the gateway).
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Stream a chat answer from a Sluice gateway.")
    parser.add_argument("prompt", nargs="+", help="the prompt (words are joined by spaces)")
    parser.add_argument("--target", default=os.environ.get("SLUICE_SERVER", "127.0.0.1:50051"),
                        help="data plane address (env SLUICE_SERVER; default %(default)s)")
    parser.add_argument("--model", default="mock-chat", help="model name (default %(default)s)")
    parser.add_argument("--max-tokens", type=int, help="maximum output tokens")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="deadline of the call in seconds (default %(default)s)")
    parser.add_argument("--tls", action="store_true", help="connect with TLS (system roots)")
    parser.add_argument("--stubs", default=os.path.join(HERE, "generated"),
                        help="directory of the generated stubs (default %(default)s)")
    parser.add_argument("--events", action="store_true",
                        help="also print one line per event to stderr")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # The API key is read from the environment only: command-line arguments show in `ps`.
    api_key = os.environ.get("SLUICE_API_KEY", "")

    sys.path.insert(0, args.stubs)
    try:
        import grpc
    except ImportError:
        sys.exit(f"error: {sys.executable} has no grpc module; install python3-grpcio (Debian/Ubuntu, "
                 "then run /usr/bin/python3) or pip install grpcio, and run this script with that "
                 "python3")
    try:
        from sluice.inference.v1 import chat_pb2
        from sluice.inference.v1 import content_pb2
        from sluice.inference.v1 import inference_service_pb2 as inference
        from sluice.inference.v1 import inference_service_pb2_grpc as inference_grpc
    except ImportError as e:
        sys.exit(f"error: cannot import the generated stubs from {args.stubs} ({e}); "
                 "generate them as examples/python/README.md shows")

    chat = inference.ChatRequest(
        model=args.model,
        messages=[content_pb2.ChatMessage(
            role=content_pb2.ROLE_USER,
            parts=[content_pb2.ContentPart(text=" ".join(args.prompt))])])
    if args.max_tokens is not None:
        chat.max_output_tokens = args.max_tokens
    metadata = [("authorization", "Bearer " + api_key)] if api_key else []

    if args.tls:
        channel = grpc.secure_channel(args.target, grpc.ssl_channel_credentials())
    else:
        channel = grpc.insecure_channel(args.target)
    with channel:
        stub = inference_grpc.InferenceServiceStub(channel)
        call = stub.StreamChat(inference.StreamChatRequest(chat=chat),
                               metadata=metadata, timeout=args.timeout)
        usage = None
        finish = ""
        try:
            for event in call:
                kind = event.WhichOneof("event")
                if args.events:
                    print(f"[event {kind}]", file=sys.stderr, flush=True)
                if kind == "content_delta":
                    delta = event.content_delta
                    if delta.choice_index == 0 and delta.WhichOneof("delta") == "text":
                        print(delta.text, end="", flush=True)
                elif kind == "choice_finished" and event.choice_finished.choice_index == 0:
                    finish = chat_pb2.FinishReason.Name(event.choice_finished.finish_reason)
                elif kind == "usage":
                    usage = event.usage
        except KeyboardInterrupt:
            call.cancel()  # the gateway cancels the upstream request too
            print("\ncancelled", file=sys.stderr)
            return 130
        except grpc.RpcError as error:
            print(file=sys.stderr)
            print(f"error: {error.code().name}: {error.details()}{reason_of(error)}",
                  file=sys.stderr)
            return 1
        print()
        if usage is not None:
            print(f"[usage] {usage.input_tokens} input + {usage.output_tokens} output = "
                  f"{usage.total_tokens} tokens | finish {finish.replace('FINISH_REASON_', '')}",
                  file=sys.stderr)
    return 0


def reason_of(error):
    """The ErrorInfo reason from the status details, when google/rpc stubs were generated too."""
    try:
        from google.rpc import error_details_pb2, status_pb2
    except ImportError:
        return ""
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                    info = error_details_pb2.ErrorInfo()
                    detail.Unpack(info)
                    return f" [{info.reason}]"
    return ""


if __name__ == "__main__":
    sys.exit(main())
