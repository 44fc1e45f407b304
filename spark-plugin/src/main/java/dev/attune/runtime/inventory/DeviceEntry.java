package dev.attune.runtime.inventory;

import java.io.Serializable;

/**
 * One device of an executor as the driver's cluster table shows it.
 *
 * @param label      "cuda:0 NVIDIA A100-SXM4-80GB", "Tesla T4 (simulated)", "cpu"
 * @param capability compute capability, "" for the CPU
 * @param simulated  whether the device is simulated
 * @param totalBytes device memory
 * @param freeBytes  free when probed
 * @param path       attention path for full-length rows of the configured model
 * @param dtype      compute dtype
 * @param batchRows  rows per batch the memory planner allows at full length
 * @param reason     the selector's reason, or what went wrong
 */
public record DeviceEntry(
        String label,
        String capability,
        boolean simulated,
        long totalBytes,
        long freeBytes,
        String path,
        String dtype,
        int batchRows,
        String reason)
        implements Serializable {}
