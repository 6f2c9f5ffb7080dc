/*
 * test_kinds.c -- TAP: the job-kind table (common/kinds.c) called directly:
 * validation rules and messages, defaults and derived defaults, seeds, the
 * served schemas, noop progress/cancel, and kind_apply_result's checks.
 */
#include "config.h"

#include "engine.h"
#include "kinds.h"
#include "../tap.h"

#include <stdlib.h>
#include <string.h>

/* Validate JSON text with kind name; returns the code, message in err. */
static int v(const char *kind, const char *json, cJSON **out, char *err,
             size_t n) {
  cJSON *p = json ? cJSON_Parse(json) : NULL;
  int rc;
  *out = NULL;
  if (json && !p) return -100;
  rc = kind_find(kind)->validate(p, out, err, n);
  cJSON_Delete(p);
  return rc;
}

static double num(const cJSON *o, const char *k) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(x) ? x->valuedouble : -1e300;
}

/* Expect a validation failure whose message contains want. */
static void bad(const char *kind, const char *json, const char *want) {
  cJSON *o;
  char err[256];
  int rc = v(kind, json, &o, err, sizeof err);
  if (!ok(rc == KIND_EINVAL && o == NULL && strstr(err, want), "%s %s -> \"%s\"", kind, json, want))
    diag("got rc %d, \"%s\"", rc, err);
  cJSON_Delete(o);
}

static int cancel_after;
static int count_progress(void *ud, double frac, const char *msg) {
  int *n = ud;
  (void)frac;
  (void)msg;
  return ++*n >= cancel_after;
}

int main(void) {
  cJSON *o = NULL, *o2 = NULL, *r = NULL;
  char err[256];
  int i, rc, n;
  const kind_def *k;

  /* the table */
  for (i = 0, n = 0; (k = kind_at(i)); i++, n++) {
    cJSON *s = cJSON_Parse(k->params_schema_json);
    const cJSON *props = cJSON_GetObjectItemCaseSensitive(s, "properties");
    ok(s && cJSON_GetArraySize(props) == k->nparams &&
           cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(s, "additionalProperties")),
       "%s: schema is JSON with one property per param, no others allowed", k->name);
    ok(kind_find(k->name) == k, "kind_find(%s)", k->name);
    cJSON_Delete(s);
  }
  ok(n == 10 && kind_at(-1) == NULL && kind_find("nope") == NULL && kind_find(NULL) == NULL,
     "10 kinds; unknown names and indexes give NULL");

  /* defaults */
  rc = v("minimize", NULL, &o, err, sizeof err);
  ok(rc == 0 && num(o, "ftol") == 1e-6 && num(o, "max_iter") == 100000 &&
         !strcmp(cJSON_GetObjectItemCaseSensitive(o, "algo")->valuestring, "cg"),
     "minimize: NULL params -> every default");
  cJSON_Delete(o);
  rc = v("md", "{\"dt\":0.001,\"temperature\":500}", &o, err, sizeof err);
  ok(rc == 0 && num(o, "t_start") == 500 && num(o, "t_stop") == 500 && num(o, "t_damp") == 0.1 &&
         num(o, "p_damp") == 1.0 && num(o, "seed") >= 1 && num(o, "seed") < 2147483648.0,
     "md: derived defaults and a random seed");
  rc = v("md", "{\"dt\":0.001,\"temperature\":500}", &o2, err, sizeof err);
  ok(rc == 0 && num(o, "seed") != num(o2, "seed"), "md: two validations draw two seeds");
  cJSON_Delete(o2);
  /* normalized params validate to themselves (the worker re-validates) */
  rc = kind_find("md")->validate(o, &o2, err, sizeof err);
  ok(rc == 0 && cJSON_Compare(o, o2, 1), "md: validate(normalized) == normalized (seed kept)");
  cJSON_Delete(o);
  cJSON_Delete(o2);
  rc = v("md", "{\"seed\":9007199254740991,\"t_stop\":10}", &o, err, sizeof err);
  ok(rc == 0 && num(o, "seed") == 9007199254740991.0 && num(o, "t_stop") == 10 && num(o, "t_start") == 300,
     "md: explicit seed 2^53-1 and t_stop kept");
  cJSON_Delete(o);
  rc = v("energy", "{}", &o, err, sizeof err);
  ok(rc == 0 && cJSON_GetArraySize(o) == 0, "energy: {} -> {}");
  cJSON_Delete(o);
  rc = v("energy", "null", &o, err, sizeof err);
  ok(rc == 0, "params null = defaults");
  cJSON_Delete(o);

  /* rules and messages */
  bad("minimize", "{\"foo\":1}", "unknown field 'foo'");
  bad("energy", "{\"ftol\":1}", "unknown field 'ftol'");
  bad("minimize", "[1]", "params: must be a JSON object");
  bad("minimize", "{\"ftol\":0}", "ftol: must be a number > 0");
  bad("minimize", "{\"ftol\":\"1e-6\"}", "ftol: must be a number > 0");
  bad("minimize", "{\"ftol\":1e-6,\"ftol\":1e-5}", "ftol: given twice");
  bad("minimize", "{\"algo\":\"newton\"}", "algo: must be one of \"fire\", \"cg\", \"lbfgs\"");
  bad("minimize", "{\"algo\":\"\"}", "algo: must be one of");
  bad("minimize", "{\"max_iter\":2.5}", "max_iter: must be an integer");
  bad("minimize", "{\"max_iter\":0}", "max_iter: must be an integer between 1");
  bad("minimize", "{\"etol\":2}", "etol: must be a number between 0 and 1");
  bad("md", "{\"steps\":-1}", "steps: must be an integer");
  bad("md", "{\"ensemble\":\"nph\"}", "ensemble: must be one of \"nve\", \"nvt\", \"npt\"");
  bad("md", "{\"dt\":0.01,\"t_damp\":0.001}", "t_damp: must be >= dt");
  bad("md", "{\"seed\":-3}", "seed: must be an integer");
  bad("md", "{\"seed\":1.5}", "seed: must be an integer");
  bad("md", "{\"velocities\":true}", "velocities: must be one of");
  bad("quench", "{\"t_low\":2500}", "t_liquid: must be >= t_low");
  bad("quench", "{\"t_high\":1000}", "t_high: must be >= t_liquid");
  bad("quench", "{\"rate\":0}", "rate: must be a number > 0");
  bad("noop", "{\"fail\":1}", "fail: must be true or false");
  bad("noop", "{\"seconds\":-1}", "seconds: must be a number between 0");

  /* list params (descriptors: only = KIND_P_LIST, s2_cutoffs = KIND_P_NUMLIST) */
  rc = v("descriptors", "{\"only\":\" voronoi,rdf\",\"s2_cutoffs\":\"3.9, 0\",\"seed\":5}", &o, err,
         sizeof err);
  o2 = cJSON_Parse("{\"only\":[\"rdf\",\"voronoi\"],\"s2_cutoffs\":[3.9,0]}");
  ok(rc == 0 && o2 &&
         cJSON_Compare(cJSON_GetObjectItemCaseSensitive(o, "only"),
                       cJSON_GetObjectItemCaseSensitive(o2, "only"), 1) &&
         cJSON_Compare(cJSON_GetObjectItemCaseSensitive(o, "s2_cutoffs"),
                       cJSON_GetObjectItemCaseSensitive(o2, "s2_cutoffs"), 1) &&
         num(o, "seed") == 5 && num(o, "mode_fraction") == 0.0025,
     "descriptors: comma-separated lists -> arrays (only in table order), defaults filled");
  cJSON_Delete(o2);
  rc = kind_find("descriptors")->validate(o, &o2, err, sizeof err);
  ok(rc == 0 && cJSON_Compare(o, o2, 1), "descriptors: validate(normalized) == normalized");
  cJSON_Delete(o);
  cJSON_Delete(o2);
  rc = v("descriptors", NULL, &o, err, sizeof err);
  ok(rc == 0 && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "only")) == 9 &&
         cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(o, "s2_cutoffs")) == 4,
     "descriptors: default only = all nine, four S2 cutoffs (troughs)");
  cJSON_Delete(o);
  bad("descriptors", "{\"only\":[]}", "only: must be a non-empty list");
  bad("descriptors", "{\"only\":\"\"}", "only: must be a non-empty list");
  bad("descriptors", "{\"only\":[\"rdf\",1]}", "only: must be a non-empty list");
  bad("descriptors", "{\"only\":\"rdf,,s2\"}", "only: must be a non-empty list");
  bad("descriptors", "{\"only\":[\"s2\",\"s2\"]}", "only: must be a non-empty list");
  bad("descriptors", "{\"only\":7}", "only: must be a non-empty list");
  bad("descriptors", "{\"s2_cutoffs\":[3,\"x\"]}", "s2_cutoffs: must be a non-empty list");
  bad("descriptors", "{\"s2_cutoffs\":\"3,6x\"}", "s2_cutoffs: must be a non-empty list");
  bad("descriptors", "{\"s2_cutoffs\":[51]}", "s2_cutoffs: must be a non-empty list");
  bad("descriptors", "{\"s2_cutoffs\":[1,2,3,4,5,6,7,8,9]}", "s2_cutoffs: at most 8");
  bad("descriptors", "{\"msd_dt\":0.01,\"msd_t_damp\":0.001}", "msd_t_damp: must be >= msd_dt");

  /* free-text params (KIND_P_TEXT): artn/artn_chunk atoms, pipeline
   * artn_atoms, analysis property and descriptors; the old values still
   * pass */
  {
    static const struct {
      const char *kind, *param;
      double maxlen;
    } tp[] = {{"artn", "atoms", 1048576},
              {"artn_chunk", "atoms", 1048576},
              {"pipeline", "artn_atoms", 1048576},
              {"analysis", "property", 63},
              {"analysis", "descriptors", 4096}};
    for (i = 0; i < (int)(sizeof tp / sizeof tp[0]); i++) {
      const kind_param *p = kind_param_find(kind_find(tp[i].kind), tp[i].param);
      cJSON *s = cJSON_Parse(kind_find(tp[i].kind)->params_schema_json);
      const cJSON *ps = cJSON_GetObjectItemCaseSensitive(
          cJSON_GetObjectItemCaseSensitive(s, "properties"), tp[i].param);
      const cJSON *ty = cJSON_GetObjectItemCaseSensitive(ps, "type");
      char *big = malloc((size_t)tp[i].maxlen + 40);
      cJSON *par = cJSON_CreateObject();
      size_t len = (size_t)tp[i].maxlen + 1;
      ok(p && p->type == KIND_P_TEXT && p->max == tp[i].maxlen && cJSON_IsString(ty) &&
             !strcmp(ty->valuestring, "string") &&
             num(ps, "maxLength") == tp[i].maxlen && num(ps, "minLength") == 1 &&
             !cJSON_GetObjectItemCaseSensitive(ps, "enum") &&
             cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(ps, "x-syntax")),
         "%s %s: KIND_P_TEXT, schema string with minLength 1, maxLength %.0f, x-syntax, no enum",
         tp[i].kind, tp[i].param, tp[i].maxlen);
      cJSON_Delete(s);
      if (!big || !par) bail("out of memory");
      /* one character over the limit: "ids:1,1,1,..." or "aaaa..." */
      memset(big, 'a', len);
      if (tp[i].maxlen > 100) {
        size_t j;
        memcpy(big, "ids:", 4);
        for (j = 4; j < len; j++) big[j] = (j % 2) ? ',' : '1';
        big[len - 1] = '2';
      }
      big[len] = 0;
      cJSON_AddStringToObject(par, tp[i].param, big);
      o = NULL;
      rc = kind_find(tp[i].kind)->validate(par, &o, err, sizeof err);
      if (!ok(rc == KIND_EINVAL && !o && !strncmp(err, tp[i].param, strlen(tp[i].param)) &&
                  err[strlen(tp[i].param)] == ':' &&
                  strstr(err, "must be a string of 1 to") && strstr(err, "got "),
              "%s %s of %zu characters -> KIND_EINVAL naming %s", tp[i].kind, tp[i].param,
              len, tp[i].param))
        diag("got rc %d, \"%s\"", rc, err);
      cJSON_Delete(o);
      cJSON_Delete(par);
      free(big);
    }
  }
  bad("artn", "{\"atoms\":\"\"}", "atoms: must be a string of 1 to 1048576 characters");
  bad("artn", "{\"atoms\":7}", "atoms: must be a string");
  bad("artn", "{\"atoms\":{\"ids\":1}}", "atoms: must be a string");
  bad("artn_chunk", "{\"atoms\":true}", "atoms: must be a string");
  bad("artn", "{\"refine_grow\":4}", "refine_grow: needs refine_radius > 0");
  bad("artn_chunk", "{\"refine_grow\":-1}", "refine_grow: must be a number between 0 and 999.999");
  bad("artn", "{\"local\":true,\"local_radius\":6,\"push_radius\":5}",
      "push_radius: must be 0 (off) or >= local_radius (6 A)");
  bad("artn_chunk", "{\"push_radius\":-2}", "push_radius: must be a number between 0 and 999.999");
  bad("artn", "{\"second_remote\":-1}", "second_remote: must be a number between 0 and 999.999");
  bad("artn", "{\"refine_grow_hot\":1.5}", "refine_grow_hot: must be a number between 0 and 1");
  bad("artn", "{\"local\":true,\"refine_radius\":16,\"refine_grow_hot\":0.5}",
      "refine_grow_hot: needs refine_grow > 0");
  bad("pipeline", "{\"artn_atoms\":3.5}", "artn_atoms: must be a string");
  bad("pipeline", "{\"artn_atoms\":\"\"}", "artn_atoms: must be a string of 1 to");
  bad("analysis", "{\"property\":12}", "property: must be");
  bad("analysis", "{\"property\":\"\"}", "property: must be a string of 1 to 63 characters");
  bad("analysis", "{\"property\":\"a b\"}", "property: must be");
  {
    static const char *const good[][2] = {
        {"artn", "{\"atoms\":\"ids:1-16\",\"seed\":1}"},
        {"artn", "{\"atoms\":\"1,5,9-12\",\"seed\":1}"},
        {"artn", "{\"atoms\":[3,1,2],\"seed\":1}"},
        {"artn", "{\"atoms\":\"species:Zr\",\"seed\":1}"},
        {"artn", "{\"atoms\":\"region:0,5,-inf,inf,0,1e3\",\"seed\":1}"},
        {"artn_chunk", "{\"atoms\":\"all\",\"seed\":1}"},
        {"pipeline", "{\"artn_atoms\":\"ids:1-16\",\"seed\":1}"},
        {"analysis", "{\"property\":\"dq_mean\"}"},
        {"analysis", "{\"property\":\"none\"}"}};
    for (i = 0; i < (int)(sizeof good / sizeof good[0]); i++) {
      rc = v(good[i][0], good[i][1], &o, err, sizeof err);
      if (!ok(rc == 0 && o, "%s %s accepted (as before KIND_P_TEXT)", good[i][0], good[i][1]))
        diag("got rc %d, \"%s\"", rc, err);
      cJSON_Delete(o);
    }
  }

  /* noop: result shape, progress, cancel, failure */
  {
    kind_io io;
    cJSON *p = cJSON_Parse("{\"seconds\":0.3}");
    memset(&io, 0, sizeof io);
    n = 0;
    cancel_after = 1000000;
    io.progress = count_progress;
    io.ud = &n;
    rc = kind_find("noop")->run(p, &io, &r, err, sizeof err);
    ok(rc == 0 && r && !strcmp(cJSON_GetObjectItemCaseSensitive(r, "kind")->valuestring, "noop") &&
           cJSON_GetObjectItemCaseSensitive(r, "engine_version") &&
           num(cJSON_GetObjectItemCaseSensitive(r, "summary"), "seconds") >= 0.3,
       "noop runs and returns the envelope");
    ok(n >= 3, "noop reported progress (%d calls)", n);
    cJSON_Delete(r);
    n = 0;
    cancel_after = 2;
    rc = kind_find("noop")->run(p, &io, &r, err, sizeof err);
    ok(rc == KIND_ECANCEL && r == NULL, "noop: nonzero from progress -> KIND_ECANCEL");
    cJSON_Delete(p);
    p = cJSON_Parse("{\"fail\":true}");
    rc = kind_find("noop")->run(p, &io, &r, err, sizeof err);
    ok(rc == KIND_EFAIL && strstr(err, "failing as asked"), "noop fail=true -> KIND_EFAIL");
    cJSON_Delete(p);
    p = cJSON_Parse("{\"bogus\":1}");
    rc = kind_find("noop")->run(p, &io, &r, err, sizeof err);
    ok(rc == KIND_EINVAL && strstr(err, "unknown field"), "run re-validates its params");
    cJSON_Delete(p);
    rc = kind_find("energy")->run(NULL, &io, &r, err, sizeof err);
    ok(rc == KIND_EINVAL && strstr(err, "needs a structure"), "energy without inputs -> KIND_EINVAL");
  }

  /* kind_apply_result */
  {
    eng_system *s = eng_system_create(3, 1);
    cJSON *res;
    eng_prop *pr;
    res = cJSON_Parse("{\"box\":{\"lo\":[0,0,0],\"len\":[10,11,12],\"tilt\":[1,0,0]},"
                      "\"per_atom\":{\"id\":[3,1,2],\"species\":[\"Cu\",\"Cu\",\"Cu\"],"
                      "\"x\":[3,1,2],\"energy\":[-3,-1,-2]}}");
    rc = kind_apply_result(s, res, err, sizeof err);
    pr = eng_system_find_prop(s, "energy");
    ok(rc == 0 && s->box.len[1] == 11 && s->box.xy == 1 && s->x[0] == 1 && s->x[3] == 2 &&
           s->x[6] == 3 && pr && pr->val[0] == -1 && pr->val[2] == -3 &&
           !eng_system_find_prop(s, "species"),
       "apply_result: box, positions and columns matched by id");
    cJSON_Delete(res);
    res = cJSON_Parse("{\"per_atom\":{\"id\":[1,2]}}");
    rc = kind_apply_result(s, res, err, sizeof err);
    ok(rc == KIND_EINVAL && strstr(err, "2 entries"), "apply_result: wrong atom count refused");
    cJSON_Delete(res);
    res = cJSON_Parse("{\"per_atom\":{\"id\":[1,2,7]}}");
    rc = kind_apply_result(s, res, err, sizeof err);
    ok(rc == KIND_EINVAL && strstr(err, "atom id 7"), "apply_result: unknown id refused");
    cJSON_Delete(res);
    res = cJSON_Parse("{\"box\":{\"lo\":[0,0,0],\"len\":[0,1,1],\"tilt\":[0,0,0]}}");
    rc = kind_apply_result(s, res, err, sizeof err);
    ok(rc == KIND_EINVAL && s->box.len[1] == 11, "apply_result: a bad box is refused, box unchanged");
    cJSON_Delete(res);
    res = cJSON_Parse("{\"per_atom\":{\"id\":[1,2,3],\"dq\":[null,1.5,2],"
                      "\"none\":[null,null,null]}}");
    rc = kind_apply_result(s, res, err, sizeof err);
    pr = eng_system_find_prop(s, "dq");
    ok(rc == 0 && pr && isnan(pr->val[0]) && pr->val[1] == 1.5 && pr->val[2] == 2 &&
           !eng_system_find_prop(s, "none"),
       "apply_result: null values become NaN, an all-null column is skipped");
    cJSON_Delete(res);
    res = cJSON_Parse("{\"per_atom\":{\"id\":[1,2,3],\"y\":[null,1.5,2]}}");
    rc = kind_apply_result(s, res, err, sizeof err);
    ok(rc == KIND_EINVAL && strstr(err, "null positions") && s->x[4] != 1.5,
       "apply_result: null positions refused");
    cJSON_Delete(res);
    eng_system_free(s);
  }
  ok(!strcmp(kind_errname(KIND_ECANCEL), "KIND_ECANCEL") && strstr(kind_program(), "pelmap "),
     "kind_errname, kind_program");
  return tap_done();
}
