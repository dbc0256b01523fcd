/**
 * The Backend SPI (the primitive ops every device provides) and the CPU implementation built on the
 * Vector API. Native backends are found through {@link dev.oialr4j.backend.BackendProvider}.
 */
package dev.oialr4j.backend;
