/**
 * The PTX modules Attune ships as resources under {@code dev/attune/kernels/ptx/}: their manifest
 * (written by {@code kernels/src/main/cuda/build-ptx.sh}), the PTX text of each module, and what a
 * device needs to load it. No JCuda here: the selector reads these requirements on machines
 * without a GPU, and the backend hands the PTX text to the driver.
 */
package dev.attune.kernels.ptx;
