/**
 * Files: run directories (config, JSON-lines metrics, summary), the JSON writer and reader, the
 * safetensors format for named tensors, and checkpoint folders (tensors plus JSON metadata in sections).
 */
package dev.oialr4j.io;
