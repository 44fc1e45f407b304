package dev.attune.model.prompt;

/**
 * One turn of a conversation, as a chat template sees it: {@code {"role": role, "content": content}}.
 * Roles are whatever the model's template accepts, usually {@code system}, {@code user} and
 * {@code assistant}. Null fields are allowed here and rejected, with the message's index, by
 * {@link ChatTemplate#render}. Immutable.
 */
public record ChatMessage(String role, String content) {

    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }

    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    public static ChatMessage assistant(String content) {
        return new ChatMessage("assistant", content);
    }
}
