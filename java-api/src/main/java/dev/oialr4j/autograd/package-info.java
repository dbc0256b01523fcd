/**
 * The autograd tape: {@link dev.oialr4j.autograd.Ops} runs differentiable ops against a backend and records
 * their backward functions on a {@link dev.oialr4j.autograd.Tape}, which replays them in reverse.
 * {@link dev.oialr4j.autograd.Parameter} is the trainable leaf that optimizers and OIALR key their state on.
 */
package dev.oialr4j.autograd;
