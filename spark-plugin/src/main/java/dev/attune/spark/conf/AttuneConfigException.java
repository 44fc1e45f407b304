package dev.attune.spark.conf;

/** A bad {@code spark.attune.*} key or value; the message names the key, the value and what is allowed. */
public class AttuneConfigException extends IllegalArgumentException {

    public AttuneConfigException(String message) {
        super(message);
    }
}
