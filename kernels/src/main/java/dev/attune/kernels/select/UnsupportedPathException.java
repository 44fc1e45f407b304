package dev.attune.kernels.select;

/** A forced attention path or dtype that the device cannot run; the message names device, path and why. */
public class UnsupportedPathException extends RuntimeException {

    public UnsupportedPathException(String message) {
        super(message);
    }
}
