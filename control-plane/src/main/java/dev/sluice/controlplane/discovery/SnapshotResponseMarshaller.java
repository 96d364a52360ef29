package dev.sluice.controlplane.discovery;

import com.google.protobuf.ByteString;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.WireFormat;
import dev.sluice.controlplane.snapshot.Snapshot;
import dev.sluice.controlplane.snapshot.SnapshotSource;
import dev.sluice.discovery.v1.StreamConfigResponse;
import io.grpc.Drainable;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.grpc.protobuf.ProtoUtils;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;

/**
 * Encodes {@code StreamConfigResponse}s reusing the snapshot's cached encoding ({@link
 * Snapshot#serialized()}): only the few small per-stream fields (version, nonce, replica id) are
 * encoded per response, and the snapshot bytes are appended as they are. A fan-out of one version
 * to N streams thus encodes the snapshot once instead of N times. A response carrying any other
 * snapshot instance (for example one newer than the cached) is encoded the ordinary way.
 *
 * <p>The output is a valid encoding of the same message: fields in number order, the snapshot as
 * field 4, length-delimited.
 */
final class SnapshotResponseMarshaller implements MethodDescriptor.Marshaller<StreamConfigResponse> {
  private static final MethodDescriptor.Marshaller<StreamConfigResponse> PROTO =
      ProtoUtils.marshaller(StreamConfigResponse.getDefaultInstance());

  private final SnapshotSource snapshots;

  SnapshotResponseMarshaller(SnapshotSource snapshots) {
    this.snapshots = snapshots;
  }

  @Override
  public InputStream stream(StreamConfigResponse response) {
    Snapshot cached = snapshots.current();
    if (!response.hasSnapshot()
        || cached == null
        || response.getSnapshot() != cached.proto()
        || !response.getUnknownFields().asMap().isEmpty()) {
      return PROTO.stream(response);
    }
    return new BytesStream(encode(response, cached.serialized()));
  }

  @Override
  public StreamConfigResponse parse(InputStream stream) {
    return PROTO.parse(stream);
  }

  /** The encoding of {@code response} with its snapshot taken from {@code snapshotBytes}. */
  static ByteString encode(StreamConfigResponse response, ByteString snapshotBytes) {
    ByteString.Output head = ByteString.newOutput(64 + response.getVersionInfo().length());
    try {
      CodedOutputStream out = CodedOutputStream.newInstance(head);
      if (!response.getVersionInfo().isEmpty()) {
        out.writeString(StreamConfigResponse.VERSION_INFO_FIELD_NUMBER, response.getVersionInfo());
      }
      if (!response.getNonce().isEmpty()) {
        out.writeString(StreamConfigResponse.NONCE_FIELD_NUMBER, response.getNonce());
      }
      if (!response.getControlPlaneId().isEmpty()) {
        out.writeString(
            StreamConfigResponse.CONTROL_PLANE_ID_FIELD_NUMBER, response.getControlPlaneId());
      }
      out.writeTag(StreamConfigResponse.SNAPSHOT_FIELD_NUMBER, WireFormat.WIRETYPE_LENGTH_DELIMITED);
      out.writeUInt32NoTag(snapshotBytes.size());
      out.flush();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return head.toByteString().concat(snapshotBytes);
  }

  /** The bytes as a stream gRPC can size and drain without copying them first. */
  private static final class BytesStream extends InputStream implements KnownLength, Drainable {
    private final ByteString bytes;
    private InputStream remaining;
    private boolean drained;

    BytesStream(ByteString bytes) {
      this.bytes = bytes;
      this.remaining = bytes.newInput();
    }

    @Override
    public int drainTo(OutputStream target) throws IOException {
      int size = available();
      if (!drained && size == bytes.size()) {
        bytes.writeTo(target);
      } else {
        remaining.transferTo(target);
      }
      drained = true;
      remaining = InputStream.nullInputStream();
      return size;
    }

    @Override
    public int read() throws IOException {
      return remaining.read();
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      return remaining.read(b, off, len);
    }

    @Override
    public int available() throws IOException {
      return remaining.available();
    }
  }
}
