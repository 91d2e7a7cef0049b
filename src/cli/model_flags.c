/* model_flags.c: a preset and the overrides of its configuration, read from the command line
 * (shared by `ttt init` and `ttt train --preset`): the flags of every family, from the
 * registry (model/family.h). */
#include "cli/model_flags.h"

#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/error.h"
#include "model/family.h"

/* the flags every family has */
static const flag_spec common_flags[] = {{"preset", 1}, {"layers", 1}, {"width", 1}, {"untied", 0}, {"tied", 0}};
enum { N_COMMON = sizeof common_flags / sizeof common_flags[0] };

static int has_name(const flag_spec *s, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0) return 1;
    return 0;
}

const flag_spec *model_flags_spec(flag_spec *out, int cap, const flag_spec *own) {
    int n = 0;
    for (int i = 0; i < N_COMMON; i++) out[n++] = common_flags[i];
    for (int k = 0; k < ttt_family_count(); k++)
        for (const ttt_family_flag *f = ttt_family_at(k)->flags; f && f->name; f++)
            if (!has_name(out, n, f->name)) {
                TTT_ASSERT(n < cap - 1);
                out[n++] = (flag_spec){f->name, f->kind != TTT_FLAG_TRUE};
            }
    for (int i = 0; own && own[i].name; i++) {
        TTT_ASSERT(n < cap - 1);
        out[n++] = own[i];
    }
    out[n] = (flag_spec){NULL, 0};
    return out;
}

void model_flags_help(FILE *fp) {
    fprintf(fp, "  --layers N --width N        depth and width\n"
                "  --untied | --tied           separate lm_head.weight or head tied to the embedding\n");
    for (int k = 0; k < ttt_family_count(); k++) {
        const ttt_family *f = ttt_family_at(k);
        if (f->flags_help) fprintf(fp, "  %s models:\n%s", f->title, f->flags_help);
    }
}

/* the family flag named `name` of family f, or NULL */
static const ttt_family_flag *family_flag(const ttt_family *f, const char *name) {
    for (const ttt_family_flag *p = f->flags; p && p->name; p++)
        if (strcmp(p->name, name) == 0) return p;
    return NULL;
}

const char *model_flag_given(const args *a) {
    for (int i = 1; i < N_COMMON; i++)
        if (args_has(a, common_flags[i].name)) return common_flags[i].name;
    for (int k = 0; k < ttt_family_count(); k++)
        for (const ttt_family_flag *f = ttt_family_at(k)->flags; f && f->name; f++)
            if (args_has(a, f->name)) return f->name;
    return NULL;
}

/* a family flag that the preset's family does not list is an error rather than a silent no-op */
static int check_applicable(const args *a, const char *cmd, const ttt_family *fam) {
    for (int k = 0; k < ttt_family_count(); k++)
        for (const ttt_family_flag *f = ttt_family_at(k)->flags; f && f->name; f++) {
            if (!args_has(a, f->name) || family_flag(fam, f->name)) continue;
            char to[256] = "";
            for (int j = 0; j < ttt_family_count(); j++)
                if (family_flag(ttt_family_at(j), f->name))
                    snprintf(to + strlen(to), sizeof to - strlen(to), "%s%s", *to ? ", " : "", ttt_family_at(j)->title);
            fprintf(stderr, "ttt %s: --%s does not apply to the %s model of preset '%s' (it applies to: %s)\n", cmd,
                    f->name, fam->title, args_str(a, "preset", ""), to);
            return 2;
        }
    if (args_has(a, "tied") && args_has(a, "untied")) {
        fprintf(stderr, "ttt %s: --tied and --untied contradict each other: give one of them\n", cmd);
        return 2;
    }
    return 0;
}

static int given(const void *ctx, const char *flag) { return args_has((const args *)ctx, flag); }

int model_config_from_flags(const args *a, const char *cmd, ttt_config *cfg) {
    if (ttt_config_preset(args_str(a, "preset", ""), cfg) != TTT_OK) return cli_fail(cmd);
    const ttt_family *fam = ttt_family_of(cfg);
    if (check_applicable(a, cmd, fam)) return 2;
    const int64_t MAXD = (int64_t)1 << 30;
    int64_t v;
    if (args_int(a, "layers", cfg->num_hidden_layers, 1, MAXD, &v)) return 2;
    cfg->num_hidden_layers = v;
    if (args_int(a, "width", cfg->hidden_size, 1, MAXD, &v)) return 2;
    cfg->hidden_size = v;
    for (const ttt_family_flag *f = fam->flags; f && f->name; f++) {
        char *field = (char *)cfg + f->field;
        switch (f->kind) {
        case TTT_FLAG_INT:
            if (args_int(a, f->name, *(int64_t *)field, 1, MAXD, (int64_t *)field)) return 2;
            break;
        case TTT_FLAG_REAL:
            if (args_double(a, f->name, *(double *)field, (double *)field)) return 2;
            break;
        case TTT_FLAG_TRUE:
            if (args_has(a, f->name)) *(int *)field = 1;
            break;
        case TTT_FLAG_CHOICE:
            if (args_has(a, f->name) && fam->set_choice(cfg, f->name, args_str(a, f->name, "")) != TTT_OK) {
                fprintf(stderr, "ttt %s: %s\n", cmd, ttt_last_error());
                return 2;
            }
            break;
        }
    }
    if (fam->flags_done) fam->flags_done(cfg, given, a);
    if (args_has(a, "untied")) cfg->tie_word_embeddings = 0;
    if (args_has(a, "tied")) cfg->tie_word_embeddings = 1;
    return 0;
}
