/** Modules: named parameters and submodules, dense layers, activations, and the models built from them. */
package dev.oialr4j.nn;
