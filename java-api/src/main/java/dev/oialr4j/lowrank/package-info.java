/**
 * Layers held as U Σ Vᵀ factors ({@link dev.oialr4j.lowrank.LowRankLinear},
 * {@link dev.oialr4j.lowrank.LowRankConv2d}, both {@link dev.oialr4j.lowrank.LowRankLayer}s) that compute
 * through their factors unless materialising the dense weight is cheaper.
 */
package dev.oialr4j.lowrank;
