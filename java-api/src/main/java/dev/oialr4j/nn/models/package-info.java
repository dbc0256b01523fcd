/** Ready-made models with builders. */
package dev.oialr4j.nn.models;
