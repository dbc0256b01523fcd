/** Tensors: shape, device and storage of dense row-major float32 data. No arithmetic lives here. */
package dev.oialr4j.tensor;
