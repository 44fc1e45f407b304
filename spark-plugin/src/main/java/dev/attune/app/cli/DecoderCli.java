package dev.attune.app.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.attune.kernels.device.DeviceInfo;
import dev.attune.model.DecoderModel;
import dev.attune.model.ModelFamily;
import dev.attune.model.io.ModelLocator;
import dev.attune.model.prompt.ChatMessage;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** What the decoder commands ({@code loglik}, {@code generate}) share: the device, the model check, chat prompts. */
final class DecoderCli {

    private DecoderCli() {}

    /**
     * The device of {@code --device}; a real GPU computes on the host CPU, said on {@code err}, as
     * this build has no decoder CUDA kernels.
     */
    static DeviceInfo device(String command, String spec, PrintStream err) {
        DeviceInfo device = DeviceOption.resolve(spec, err);
        if (device.isGpu() && !device.simulated()) {
            err.printf(
                    "attune %s: %s: decoders have no CUDA kernels in this build; computing on the CPU%n",
                    command, device.label());
            return DeviceInfo.cpu();
        }
        return device;
    }

    /** The model directory of {@code modelSpec}, refused (a usage error) when it holds an encoder. */
    static Path decoderDirectory(String command, String modelSpec) {
        Path dir = ModelLocator.resolve(modelSpec);
        if (ModelFamily.of(dir) != ModelFamily.DECODER) {
            throw new CliArgs.UsageException(command + ": " + dir + " is an encoder; " + command
                    + " needs a decoder (llama, mistral, qwen2, qwen3)");
        }
        return dir;
    }

    /**
     * The prompt of a row: a string, or a list of chat messages ({"role", "content"}) rendered by
     * the model's chat template with the assistant's turn opened.
     */
    static String prompt(DecoderModel model, JsonlInput.Row r, String field, String source) {
        JsonNode v = r.object().get(field);
        if (v == null || !v.isArray()) {
            return r.string(source, field);
        }
        List<ChatMessage> messages = new ArrayList<>();
        for (JsonNode m : v) {
            if (!m.isObject()
                    || !m.path("role").isTextual()
                    || !m.path("content").isTextual()) {
                throw new JsonlInput.InputException(source + ":" + r.line() + ": \"" + field + "\" message "
                        + messages.size() + " must be {\"role\": string, \"content\": string}, got " + m);
            }
            messages.add(
                    new ChatMessage(m.get("role").asText(), m.get("content").asText()));
        }
        try {
            return model.chatPrompt(messages);
        } catch (RuntimeException e) {
            throw new JsonlInput.InputException(source + ":" + r.line() + ": " + e.getMessage());
        }
    }
}
