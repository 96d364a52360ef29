package dev.sluice.dataplane.config;

import static dev.sluice.dataplane.testing.TestConfigs.backend;
import static dev.sluice.dataplane.testing.TestConfigs.model;
import static dev.sluice.dataplane.testing.TestConfigs.snapshot;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.sluice.config.v1.ConfigSnapshot;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SnapshotFileTest {
  @TempDir Path dir;

  private final ConfigSnapshot snapshot = snapshot(7, backend("b1"), model("m1", "b1"));

  @Test
  void readsBackWhatItWrote() throws IOException {
    SnapshotFile file = new SnapshotFile(dir.resolve("a/b/config.bin"));

    file.write("1a.7", snapshot);

    assertThat(file.read().getVersionInfo()).isEqualTo("1a.7");
    assertThat(file.read().getSnapshot()).isEqualTo(snapshot);
  }

  @Test
  void readsNothingWhenThereIsNoFile() throws IOException {
    assertThat(new SnapshotFile(dir.resolve("absent")).read()).isNull();
  }

  @Test
  void replacesTheOldContentWithoutLeavingTemporaryFiles() throws IOException {
    SnapshotFile file = new SnapshotFile(dir.resolve("config.bin"));
    file.write("1a.1", snapshot(1));

    file.write("1a.7", snapshot);

    assertThat(file.read().getVersionInfo()).isEqualTo("1a.7");
    assertThat(Files.list(dir)).containsExactly(dir.resolve("config.bin"));
  }

  @Test
  void rejectsACorruptedFile() throws IOException {
    Path path = dir.resolve("config.bin");
    SnapshotFile file = new SnapshotFile(path);
    file.write("1a.7", snapshot);
    byte[] bytes = Files.readAllBytes(path);
    bytes[bytes.length / 2] ^= 0x5a;
    Files.write(path, bytes);

    assertThatThrownBy(file::read).isInstanceOf(IOException.class).hasMessageContaining("checksum");
  }

  @Test
  void rejectsATruncatedFile() throws IOException {
    Path path = dir.resolve("config.bin");
    SnapshotFile file = new SnapshotFile(path);
    file.write("1a.7", snapshot);
    byte[] bytes = Files.readAllBytes(path);
    Files.write(path, java.util.Arrays.copyOf(bytes, bytes.length - 5));

    assertThatThrownBy(file::read)
        .isInstanceOf(IOException.class)
        .hasMessageContaining("truncated");
  }
}
