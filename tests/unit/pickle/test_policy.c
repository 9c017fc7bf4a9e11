/* Policy: allowlist first; dangerous by module (and submodule), by name,
   and by a component reached through attributes; user entries. */
#include <fcntl.h>
#include <unistd.h>

#include "mg_test.h"
#include "pickle/policy.h"
#include "pickle/policy_tables.h"

#define SEV(m, n) mg_policy_classify(NULL, m, n)

static void
test_tables_sorted(void **state)
{
    (void)state;
    for (size_t i = 1; i < mg_pol_nmodules; i++)
        assert_true(
            strcmp(mg_pol_modules[i - 1].module, mg_pol_modules[i].module) < 0);
    for (size_t i = 1; i < mg_pol_nnames; i++) {
        int c = strcmp(mg_pol_names[i - 1].module, mg_pol_names[i].module);
        if (c == 0)
            c = strcmp(mg_pol_names[i - 1].name, mg_pol_names[i].name);
        assert_true(c < 0);
    }
    for (size_t i = 1; i < mg_pol_ncomponents; i++)
        assert_true(strcmp(mg_pol_components[i - 1].module,
                           mg_pol_components[i].module) < 0);
}

static void
test_dangerous(void **state)
{
    (void)state;
    assert_int_equal(SEV("os", "system"), MG_SEV_DANGEROUS);
    assert_int_equal(SEV("posix", "system"), MG_SEV_DANGEROUS);
    assert_int_equal(SEV("nt", "system"), MG_SEV_DANGEROUS);
    assert_int_equal(SEV("subprocess", "Popen"), MG_SEV_DANGEROUS);
    assert_int_equal(SEV("builtins", "eval"), MG_SEV_DANGEROUS);
    assert_int_equal(SEV("builtins", "exec"), MG_SEV_DANGEROUS);
    assert_int_equal(SEV("builtins", "compile"), MG_SEV_DANGEROUS);
    assert_int_equal(SEV("builtins", "__import__"), MG_SEV_DANGEROUS);
    assert_int_equal(SEV("runpy", "_run_code"), MG_SEV_DANGEROUS);
    assert_int_equal(SEV("pip", "main"), MG_SEV_DANGEROUS);
    assert_int_equal(SEV("cProfile", "run"), MG_SEV_DANGEROUS);
    assert_int_equal(SEV("code", "InteractiveInterpreter.runcode"),
                     MG_SEV_DANGEROUS);
    assert_int_equal(SEV("pickle", "loads"), MG_SEV_DANGEROUS);
    assert_int_equal(SEV("torch", "load"), MG_SEV_DANGEROUS);
    assert_int_equal(SEV("torch.storage", "_load_from_bytes"),
                     MG_SEV_DANGEROUS);
    assert_int_equal(SEV("socket", "create_connection"), MG_SEV_DANGEROUS);
    /* submodules of a dangerous module */
    assert_int_equal(
        SEV("asyncio.unix_events", "_UnixSubprocessTransport._start"),
        MG_SEV_DANGEROUS);
    assert_int_equal(SEV("os.path", "join"), MG_SEV_DANGEROUS);
    /* reached through a carrier module's attributes */
    assert_int_equal(SEV("pathlib", "os.system"), MG_SEV_DANGEROUS);
    assert_int_equal(SEV("torch.nn.modules.module", "Module.__init__."
                                                    "__globals__"),
                     MG_SEV_DANGEROUS);
    assert_int_equal(SEV("<dynamic>", "system"), MG_SEV_DANGEROUS);
    /* attributes of a dangerous name stay dangerous */
    assert_int_equal(SEV("builtins", "eval.__call__"), MG_SEV_DANGEROUS);
}

static void
test_suspicious_and_unknown(void **state)
{
    (void)state;
    assert_int_equal(SEV("builtins", "getattr"), MG_SEV_SUSPICIOUS);
    assert_int_equal(SEV("operator", "attrgetter"), MG_SEV_SUSPICIOUS);
    assert_int_equal(SEV("functools", "partial"), MG_SEV_SUSPICIOUS);
    assert_int_equal(SEV("<dynamic>", "<dynamic>"), MG_SEV_SUSPICIOUS);
    assert_int_equal(SEV("base64", "b64decode"), MG_SEV_SUSPICIOUS);
    assert_int_equal(SEV("__main__", "MyNet"), MG_SEV_UNKNOWN);
    assert_int_equal(SEV("sklearn.tree._classes", "DecisionTreeClassifier"),
                     MG_SEV_UNKNOWN);
    /* near misses of allowlisted names are not safe */
    assert_int_equal(SEV("collections", "OrderedDict.fromkeys"),
                     MG_SEV_UNKNOWN);
    assert_int_equal(SEV("torch._utils", "_rebuild_tensor_v2x"),
                     MG_SEV_UNKNOWN);
    assert_int_equal(SEV("collections", "OrderedDict.__class__"),
                     MG_SEV_SUSPICIOUS);
    /* names holding control bytes are never safe */
    struct mg_class c =
        mg_policy_class(NULL, "collections", 11, "OrderedDict\0x", 13);
    assert_int_equal(c.sev, MG_SEV_UNKNOWN);
    assert_false(c.safe);
}

static void
test_safe(void **state)
{
    (void)state;
    assert_int_equal(SEV("collections", "OrderedDict"), MG_SEV_INFO);
    assert_int_equal(SEV("torch._utils", "_rebuild_tensor_v2"), MG_SEV_INFO);
    assert_int_equal(SEV("torch", "FloatStorage"), MG_SEV_INFO);
    assert_int_equal(SEV("torch", "bfloat16"), MG_SEV_INFO);
    assert_int_equal(SEV("torch.nn.parameter", "Parameter"), MG_SEV_INFO);
    assert_int_equal(SEV("numpy.core.multiarray", "_reconstruct"), MG_SEV_INFO);
    assert_int_equal(SEV("numpy", "dtype"), MG_SEV_INFO);
    assert_int_equal(SEV("_codecs", "encode"), MG_SEV_INFO);
    assert_int_equal(SEV("copyreg", "_reconstructor"), MG_SEV_INFO);
    assert_int_equal(SEV("builtins", "set"), MG_SEV_INFO);
}

static void
test_user_policy(void **state)
{
    (void)state;
    struct mg_policy *p = NULL;
    assert_int_equal(mg_policy_new(&p), MG_OK);
    assert_int_equal(mg_policy_classify(p, "__main__", "MyNet"),
                     MG_SEV_UNKNOWN);
    assert_int_equal(mg_policy_set(p, "__main__.MyNet", MG_SEV_INFO), MG_OK);
    assert_int_equal(mg_policy_classify(p, "__main__", "MyNet"), MG_SEV_INFO);
    assert_int_equal(mg_policy_set(p, "mypkg.*", MG_SEV_INFO), MG_OK);
    assert_int_equal(mg_policy_classify(p, "mypkg.sub", "Model"), MG_SEV_INFO);
    assert_int_equal(mg_policy_classify(p, "mypkgx", "Model"), MG_SEV_UNKNOWN);
    /* a wildcard cannot make a dangerous import safe */
    assert_int_equal(mg_policy_set(p, "os.*", MG_SEV_INFO), MG_OK);
    assert_int_equal(mg_policy_classify(p, "os", "system"), MG_SEV_DANGEROUS);
    assert_int_equal(mg_policy_set(p, "pkg.mod:Outer.Inner", MG_SEV_DANGEROUS),
                     MG_OK);
    assert_int_equal(mg_policy_classify(p, "pkg.mod", "Outer.Inner"),
                     MG_SEV_DANGEROUS);
    assert_int_equal(mg_policy_set(p, "nodot", MG_SEV_INFO), MG_E_INVALID);
    assert_int_equal(mg_policy_set(p, "a b.c", MG_SEV_INFO), MG_E_INVALID);
    assert_true(mg_policy_hash(p) != mg_policy_hash(NULL));
    mg_policy_free(p);
    mg_policy_free(NULL);
}

static void
test_policy_file(void **state)
{
    (void)state;
    char path[] = "/tmp/mg_policy_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *good = "# comment\nsafe mypkg.Model\n\n"
                       "dangerous  mypkg.evil   # trailing\nallow x.*\n";
    assert_int_equal(write(fd, good, strlen(good)), (ssize_t)strlen(good));
    close(fd);
    struct mg_policy *p = NULL;
    assert_int_equal(mg_policy_new(&p), MG_OK);
    unsigned line = 99;
    assert_int_equal(mg_policy_load(p, path, &line), MG_OK);
    assert_int_equal(mg_policy_classify(p, "mypkg", "Model"), MG_SEV_INFO);
    assert_int_equal(mg_policy_classify(p, "mypkg", "evil"), MG_SEV_DANGEROUS);
    mg_policy_free(p);

    fd = open(path, O_WRONLY | O_TRUNC);
    const char *bad = "safe a.b\nbogus c.d\n";
    assert_int_equal(write(fd, bad, strlen(bad)), (ssize_t)strlen(bad));
    close(fd);
    assert_int_equal(mg_policy_new(&p), MG_OK);
    assert_int_equal(mg_policy_load(p, path, &line), MG_E_MALFORMED);
    assert_int_equal(line, 2);
    mg_policy_free(p);
    unlink(path);
    assert_int_equal(mg_policy_new(&p), MG_OK);
    assert_int_equal(mg_policy_load(p, "/nonexistent/x", &line), MG_E_IO);
    mg_policy_free(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables_sorted),
        cmocka_unit_test(test_dangerous),
        cmocka_unit_test(test_suspicious_and_unknown),
        cmocka_unit_test(test_safe),
        cmocka_unit_test(test_user_policy),
        cmocka_unit_test(test_policy_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
