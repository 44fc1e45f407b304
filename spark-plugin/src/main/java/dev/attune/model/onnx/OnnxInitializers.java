package dev.attune.model.onnx;

import com.google.protobuf.CodedInputStream;
import dev.attune.model.ModelFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The float32 initializers and the node list of an ONNX model, read from its protobuf encoding.
 *
 * <p>Only what importing weights needs is decoded: {@code ModelProto.graph},
 * {@code GraphProto.node} (name, op type, inputs) and {@code GraphProto.initializer}
 * ({@code TensorProto} name, dims, data type, and {@code raw_data} or {@code float_data}).
 * Everything else is skipped by the protobuf wire rules. Tensors stored outside the file
 * ({@code data_location = EXTERNAL}) are refused with a clear error.
 */
public final class OnnxInitializers {

    /** One graph node: its name, operator and input names. */
    public record Node(String name, String opType, List<String> inputs) {}

    /** One fp32 initializer. */
    public record Tensor(String name, long[] dims, float[] data) {}

    // Field numbers from onnx.proto.
    private static final int MODEL_GRAPH = 7;
    private static final int GRAPH_NODE = 1;
    private static final int GRAPH_INITIALIZER = 5;
    private static final int NODE_INPUT = 1;
    private static final int NODE_NAME = 3;
    private static final int NODE_OP_TYPE = 4;
    private static final int TENSOR_DIMS = 1;
    private static final int TENSOR_DATA_TYPE = 2;
    private static final int TENSOR_FLOAT_DATA = 4;
    private static final int TENSOR_NAME = 8;
    private static final int TENSOR_RAW_DATA = 9;
    private static final int TENSOR_DATA_LOCATION = 14;
    private static final int ONNX_FLOAT = 1;

    private final Map<String, Tensor> tensors;
    private final List<Node> nodes;

    private OnnxInitializers(Map<String, Tensor> tensors, List<Node> nodes) {
        this.tensors = tensors;
        this.nodes = nodes;
    }

    public static OnnxInitializers read(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            if (ch.size() > Integer.MAX_VALUE) {
                throw new ModelFormatException(
                        file + ": ONNX files over 2 GiB keep weights outside the file; not supported");
            }
            ByteBuffer buf = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
            return read(file.toString(), CodedInputStream.newInstance(buf));
        } catch (IOException e) {
            throw new ModelFormatException(file + ": cannot read ONNX model: " + e.getMessage(), e);
        }
    }

    public static OnnxInitializers read(String source, byte[] bytes) {
        try {
            return read(source, CodedInputStream.newInstance(bytes));
        } catch (IOException e) {
            throw new ModelFormatException(source + ": not a valid ONNX model: " + e.getMessage(), e);
        }
    }

    private static OnnxInitializers read(String source, CodedInputStream in) throws IOException {
        in.setSizeLimit(Integer.MAX_VALUE);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        List<Node> nodes = new ArrayList<>();
        boolean sawGraph = false;
        try {
            while (true) {
                int tag = in.readTag();
                if (tag == 0) {
                    break;
                }
                if (fieldOf(tag) == MODEL_GRAPH && wireOf(tag) == 2) {
                    sawGraph = true;
                    int limit = in.pushLimit(in.readRawVarint32());
                    readGraph(source, in, tensors, nodes);
                    in.popLimit(limit);
                } else if (!in.skipField(tag)) {
                    break;
                }
            }
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            throw new ModelFormatException(source + ": not a valid ONNX model: " + e.getMessage(), e);
        }
        if (!sawGraph) {
            throw new ModelFormatException(source + ": not an ONNX model (no graph)");
        }
        return new OnnxInitializers(Collections.unmodifiableMap(tensors), List.copyOf(nodes));
    }

    private static void readGraph(String source, CodedInputStream in, Map<String, Tensor> tensors, List<Node> nodes)
            throws IOException {
        while (!in.isAtEnd()) {
            int tag = in.readTag();
            int field = fieldOf(tag);
            if (field == GRAPH_NODE && wireOf(tag) == 2) {
                int limit = in.pushLimit(in.readRawVarint32());
                nodes.add(readNode(in));
                in.popLimit(limit);
            } else if (field == GRAPH_INITIALIZER && wireOf(tag) == 2) {
                int limit = in.pushLimit(in.readRawVarint32());
                Tensor t = readTensor(source, in);
                in.popLimit(limit);
                if (t != null) {
                    tensors.put(t.name(), t);
                }
            } else {
                in.skipField(tag);
            }
        }
    }

    private static Node readNode(CodedInputStream in) throws IOException {
        String name = "";
        String op = "";
        List<String> inputs = new ArrayList<>();
        while (!in.isAtEnd()) {
            int tag = in.readTag();
            switch (fieldOf(tag)) {
                case NODE_INPUT -> inputs.add(in.readStringRequireUtf8());
                case NODE_NAME -> name = in.readStringRequireUtf8();
                case NODE_OP_TYPE -> op = in.readStringRequireUtf8();
                default -> in.skipField(tag);
            }
        }
        return new Node(name, op, List.copyOf(inputs));
    }

    /** Reads one TensorProto; returns null for non-float tensors (shape constants and the like). */
    private static Tensor readTensor(String source, CodedInputStream in) throws IOException {
        String name = "";
        List<Long> dims = new ArrayList<>();
        int dataType = 0;
        ByteBuffer raw = null;
        List<Float> floatData = null;
        boolean external = false;
        while (!in.isAtEnd()) {
            int tag = in.readTag();
            int field = fieldOf(tag);
            switch (field) {
                case TENSOR_DIMS -> {
                    if (wireOf(tag) == 2) {
                        int limit = in.pushLimit(in.readRawVarint32());
                        while (!in.isAtEnd()) {
                            dims.add(in.readInt64());
                        }
                        in.popLimit(limit);
                    } else {
                        dims.add(in.readInt64());
                    }
                }
                case TENSOR_DATA_TYPE -> dataType = in.readInt32();
                case TENSOR_NAME -> name = in.readStringRequireUtf8();
                case TENSOR_RAW_DATA -> raw = in.readByteBuffer();
                case TENSOR_FLOAT_DATA -> {
                    if (floatData == null) {
                        floatData = new ArrayList<>();
                    }
                    if (wireOf(tag) == 2) {
                        int limit = in.pushLimit(in.readRawVarint32());
                        while (!in.isAtEnd()) {
                            floatData.add(in.readFloat());
                        }
                        in.popLimit(limit);
                    } else {
                        floatData.add(in.readFloat());
                    }
                }
                case TENSOR_DATA_LOCATION -> external = in.readEnum() == 1;
                default -> in.skipField(tag);
            }
        }
        if (dataType != ONNX_FLOAT) {
            return null;
        }
        if (external) {
            throw new ModelFormatException(source + ": initializer '" + name + "' keeps its data outside the file");
        }
        long[] shape = dims.stream().mapToLong(Long::longValue).toArray();
        long n = 1;
        for (long d : shape) {
            if (d < 0) {
                throw new ModelFormatException(source + ": initializer '" + name + "' has a negative dimension");
            }
            n = Math.multiplyExact(n, d);
        }
        if (n > Integer.MAX_VALUE - 8) {
            throw new ModelFormatException(source + ": initializer '" + name + "' is too large");
        }
        float[] data = new float[(int) n];
        if (raw != null) {
            if (raw.remaining() != n * Float.BYTES) {
                throw new ModelFormatException(source + ": initializer '" + name + "' holds " + raw.remaining()
                        + " bytes, its shape needs " + n * Float.BYTES);
            }
            raw.order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(data);
        } else if (floatData != null) {
            if (floatData.size() != n) {
                throw new ModelFormatException(source + ": initializer '" + name + "' holds " + floatData.size()
                        + " floats, its shape needs " + n);
            }
            for (int i = 0; i < data.length; i++) {
                data[i] = floatData.get(i);
            }
        } else if (n != 0) {
            throw new ModelFormatException(source + ": initializer '" + name + "' has no data");
        }
        return new Tensor(name, shape, data);
    }

    private static int fieldOf(int tag) {
        return tag >>> 3;
    }

    private static int wireOf(int tag) {
        return tag & 7;
    }

    public Map<String, Tensor> tensors() {
        return tensors;
    }

    public List<Node> nodes() {
        return nodes;
    }
}
