package dev.attune.model.prompt;

/**
 * A chat template that could not render a conversation: the template called
 * {@code raise_exception} (the conversation is one the model does not accept), it has a syntax or
 * runtime error, or it went past a {@link ChatTemplate.Limits limit}. The message is one line that
 * names the template's source (the model's {@code tokenizer_config.json}) and the cause.
 */
public class ChatTemplateException extends RuntimeException {

    private final boolean raisedByTemplate;

    ChatTemplateException(String message, boolean raisedByTemplate) {
        super(message);
        this.raisedByTemplate = raisedByTemplate;
    }

    /** True when the template itself called {@code raise_exception}: the input is at fault. */
    public boolean raisedByTemplate() {
        return raisedByTemplate;
    }
}
