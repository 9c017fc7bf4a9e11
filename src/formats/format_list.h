/* One line per format, cheapest and most specific probes first. */
FORMAT(pickle)
FORMAT(safetensors)
FORMAT(gguf)
FORMAT(keras_json)
FORMAT(hdf5)
FORMAT(onnx)
