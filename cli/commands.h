/* The commands of modelgate: one line each (name, summary). Each is
   implemented by int cmd_<name>(int argc, char **argv) in cli/cmd_<name>.c,
   where argv[0] is the first argument after the command name. */
CMD(scan, "scan model files, archives and folders for code execution")
CMD(disasm, "list every pickle opcode of a file, with offsets")
CMD(sandbox, "run a model load isolated and report every attempt it makes")
