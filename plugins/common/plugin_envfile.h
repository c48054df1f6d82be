/* A sandbox's environment kept for adopt: <state_dir>/env/<id>.json, mode
 * 0600, a JSON array of the "NAME=value" strings as the profile wrote them
 * (secret references stay references), from create until the sandbox is
 * gone, so that a restarted agentd adopting the sandbox runs its commands
 * with the same environment. Shared by the sandbox plugins that adopt.
 * Thread: the plugin's (loop) thread; the files are small. */
#ifndef AGENTD_PLUGIN_ENVFILE_H
#define AGENTD_PLUGIN_ENVFILE_H

/* Writes it (a temporary file renamed into place). Returns 0, AGENTD_EIO
 * (no state directory, an id that is not a plain file name, a write
 * failure) or AGENTD_ENOMEM. */
int plugin_envfile_save(const char *state_dir, const char *id, const char *const *env);

/* The kept environment, a NULL-terminated vector of malloc'd strings (empty
 * when there is no file; non-strings skipped); NULL when out of memory.
 * The caller frees each string and the vector. */
char **plugin_envfile_load(const char *state_dir, const char *id);

void plugin_envfile_remove(const char *state_dir, const char *id);

#endif
