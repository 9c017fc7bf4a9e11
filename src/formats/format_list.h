/* One line per format, cheapest and most specific probes first. */
FORMAT(zip)
FORMAT(npy)
FORMAT(torch_legacy)
FORMAT(pickle)
FORMAT(zlib)
