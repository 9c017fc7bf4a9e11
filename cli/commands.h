/* The commands of modelgate: one line each (name, summary). Each is
   implemented by int cmd_<name>(int argc, char **argv) in cli/cmd_<name>.c,
   where argv[0] is the first argument after the command name. An '_' in
   a name is typed '-' on the command line (sign_model: sign-model). */
CMD(scan, "scan model files, archives and folders for code execution")
CMD(disasm, "list every pickle opcode of a file, with offsets")
CMD(explain, "what loading a pickle would do, as readable pseudo-Python")
CMD(sign, "sign a model folder or file (OpenSSF model signing, OMS v1.0)")
CMD(verify, "verify a model's OMS signature against a key or a keyring")
CMD(check, "admit a model: trusted signature, then a scan of every file")
CMD(sign_model, "OMS conformance adapter: sign (exit code only)")
CMD(verify_model, "OMS conformance adapter: verify (exit code only)")
CMD(sandbox, "run a model load isolated and report every attempt it makes")
CMD(convert, "convert a PyTorch checkpoint to safetensors, without unpickling")
