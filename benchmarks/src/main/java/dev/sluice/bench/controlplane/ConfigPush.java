package dev.sluice.bench.controlplane;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.WireFormat;
import io.grpc.MethodDescriptor;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * The part of a {@code StreamConfigResponse} a simulated data plane needs: version, nonce, the
 * snapshot's digest and how many bytes it had. Parsed by {@link #MARSHALLER}, which reads the wire
 * format directly and skips the resources, so that a thousand streams in one process can receive a
 * thousand copies of a large snapshot without building a thousand object graphs: the figure
 * measured is the control plane's, not the simulator's.
 */
record ConfigPush(
    String versionInfo, String nonce, boolean hasSnapshot, String digest, int snapshotBytes) {
  // Field numbers of sluice.discovery.v1.StreamConfigResponse and sluice.config.v1.ConfigSnapshot.
  private static final int RESPONSE_VERSION_INFO = 1;
  private static final int RESPONSE_NONCE = 2;
  private static final int RESPONSE_SNAPSHOT = 4;
  private static final int SNAPSHOT_DIGEST = 3;

  /** The config version: the number after the epoch in {@code <epoch>.<version>}. */
  long version() {
    int dot = versionInfo.lastIndexOf('.');
    try {
      return Long.parseLong(dot >= 0 ? versionInfo.substring(dot + 1) : versionInfo);
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /** Decodes responses into {@link ConfigPush}; encoding is not needed by a client. */
  static final MethodDescriptor.Marshaller<ConfigPush> MARSHALLER =
      new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(ConfigPush value) {
          throw new UnsupportedOperationException("a simulated data plane only receives pushes");
        }

        @Override
        public ConfigPush parse(InputStream stream) {
          try {
            return read(CodedInputStream.newInstance(stream));
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }
      };

  static ConfigPush read(CodedInputStream in) throws IOException {
    in.setSizeLimit(Integer.MAX_VALUE);
    String version = "";
    String nonce = "";
    boolean hasSnapshot = false;
    String digest = "";
    int snapshotBytes = 0;
    int tag;
    while ((tag = in.readTag()) != 0) {
      switch (WireFormat.getTagFieldNumber(tag)) {
        case RESPONSE_VERSION_INFO -> version = in.readStringRequireUtf8();
        case RESPONSE_NONCE -> nonce = in.readStringRequireUtf8();
        case RESPONSE_SNAPSHOT -> {
          hasSnapshot = true;
          snapshotBytes = in.readRawVarint32();
          int limit = in.pushLimit(snapshotBytes);
          int inner;
          while ((inner = in.readTag()) != 0) {
            if (WireFormat.getTagFieldNumber(inner) == SNAPSHOT_DIGEST) {
              digest = in.readStringRequireUtf8();
            } else {
              in.skipField(inner);
            }
          }
          in.popLimit(limit);
        }
        default -> in.skipField(tag);
      }
    }
    return new ConfigPush(version, nonce, hasSnapshot, digest, snapshotBytes);
  }
}
