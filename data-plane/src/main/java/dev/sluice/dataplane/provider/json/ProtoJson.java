package dev.sluice.dataplane.provider.json;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.google.protobuf.ListValue;
import com.google.protobuf.NullValue;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.util.Map;

/**
 * Streams protobuf {@link Struct}s and {@link Value}s to and from JSON with Jackson's core API.
 *
 * <p>Numbers: protobuf keeps every number as a double; integral values within the exactly
 * representable range are written without a fraction ({@code 1}, not {@code 1.0}), which JSON
 * Schema validators and humans both prefer.
 */
public final class ProtoJson {
  /**
   * The one JSON factory of the adapters. Limits are generous but finite: upstream payloads are
   * untrusted input (OWASP API10).
   */
  public static final JsonFactory FACTORY =
      JsonFactory.builder()
          .streamReadConstraints(
              StreamReadConstraints.builder()
                  .maxNestingDepth(512)
                  .maxStringLength(256 << 20)
                  .maxNumberLength(1000)
                  .build())
          .build();

  private static final double MAX_EXACT = 9007199254740992.0; // 2^53

  private ProtoJson() {}

  /** A parser over {@code buf}'s readable bytes; reads the backing array when there is one. */
  public static JsonParser parser(ByteBuf buf) throws IOException {
    if (buf.hasArray()) {
      return FACTORY.createParser(
          buf.array(), buf.arrayOffset() + buf.readerIndex(), buf.readableBytes());
    }
    byte[] copy = new byte[buf.readableBytes()];
    buf.getBytes(buf.readerIndex(), copy);
    return FACTORY.createParser(copy);
  }

  /** Writes {@code struct} as a JSON object. */
  public static void writeStruct(JsonGenerator g, Struct struct) throws IOException {
    g.writeStartObject();
    for (Map.Entry<String, Value> field : struct.getFieldsMap().entrySet()) {
      g.writeFieldName(field.getKey());
      writeValue(g, field.getValue());
    }
    g.writeEndObject();
  }

  /** Writes {@code value} as JSON. */
  public static void writeValue(JsonGenerator g, Value value) throws IOException {
    switch (value.getKindCase()) {
      case NULL_VALUE, KIND_NOT_SET -> g.writeNull();
      case BOOL_VALUE -> g.writeBoolean(value.getBoolValue());
      case STRING_VALUE -> g.writeString(value.getStringValue());
      case NUMBER_VALUE -> writeNumber(g, value.getNumberValue());
      case STRUCT_VALUE -> writeStruct(g, value.getStructValue());
      case LIST_VALUE -> {
        g.writeStartArray();
        for (Value v : value.getListValue().getValuesList()) {
          writeValue(g, v);
        }
        g.writeEndArray();
      }
    }
  }

  /** Writes a number, integral values without a fraction. */
  public static void writeNumber(JsonGenerator g, double d) throws IOException {
    if (d == Math.rint(d) && Math.abs(d) <= MAX_EXACT && !(d == 0 && 1 / d < 0)) {
      g.writeNumber((long) d);
    } else {
      g.writeNumber(d);
    }
  }

  /**
   * Reads the value at the parser's current token (which must be a value start) into a {@link
   * Value}; leaves the parser on the value's last token.
   */
  public static Value readValue(JsonParser p) throws IOException {
    JsonToken t = p.currentToken();
    if (t == null) {
      throw new IOException("no JSON value");
    }
    return switch (t) {
      case START_OBJECT -> Value.newBuilder().setStructValue(readStruct(p)).build();
      case START_ARRAY -> {
        ListValue.Builder list = ListValue.newBuilder();
        while (p.nextToken() != JsonToken.END_ARRAY) {
          list.addValues(readValue(p));
        }
        yield Value.newBuilder().setListValue(list).build();
      }
      case VALUE_STRING -> Value.newBuilder().setStringValue(p.getText()).build();
      case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT ->
          Value.newBuilder().setNumberValue(p.getDoubleValue()).build();
      case VALUE_TRUE -> Value.newBuilder().setBoolValue(true).build();
      case VALUE_FALSE -> Value.newBuilder().setBoolValue(false).build();
      case VALUE_NULL -> Value.newBuilder().setNullValue(NullValue.NULL_VALUE).build();
      default -> throw new IOException("unexpected JSON token " + t);
    };
  }

  /** Reads the object at the parser's current {@code START_OBJECT} into a {@link Struct}. */
  public static Struct readStruct(JsonParser p) throws IOException {
    if (p.currentToken() != JsonToken.START_OBJECT) {
      throw new IOException("expected a JSON object");
    }
    Struct.Builder struct = Struct.newBuilder();
    while (p.nextToken() == JsonToken.FIELD_NAME) {
      String name = p.currentName();
      p.nextToken();
      struct.putFields(name, readValue(p));
    }
    return struct.build();
  }

  /**
   * Copies the value at the parser's current token to {@code g} verbatim in structure (used to
   * turn a provider's JSON object, e.g. Anthropic {@code tool_use.input}, into argument text).
   */
  public static void copyCurrentStructure(JsonParser p, JsonGenerator g) throws IOException {
    g.copyCurrentStructure(p);
  }
}
