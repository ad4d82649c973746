/* A libnice ICE peer for the interop test: one stream, one component, host candidates only.
 *
 * Usage: nice_peer controlling|controlled <ip> [<ip>...]
 * Environment: NICE_FLAGS=regular to use regular instead of aggressive nomination, NICE_DEBUG_ON=1
 * for libnice's own debug output (on stderr).
 *
 * Signalling is line based. stdout carries only `cred <ufrag> <pwd>`, `cand <candidate:...>`
 * (without libnice's `a=` prefix) and `done`; stdin takes the same lines from the peer. stderr is
 * the log. Exit status 0 once the component is READY and a datagram went each way, 1 on failure
 * or after the 20 s watchdog. */
#include <agent.h>
#include <gio/gio.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static GMainLoop* loop;
static NiceAgent* agent;
static guint stream_id;
static gboolean controlling;
static gboolean gathered;
static gboolean remote_done;
static gboolean remote_applied;
static gboolean ready;
static guint received;
static guint sent;
static gboolean finishing;
static int exit_code = 1;
static gint64 started_us;
static gchar* remote_ufrag;
static gchar* remote_pwd;
static GPtrArray* remote_lines;

static double elapsed_ms(void) {
  return (g_get_monotonic_time() - started_us) / 1000.0;
}

static void apply_remote(void) {
  GSList* list = NULL;
  guint i;
  int added;
  if (remote_applied || !gathered || !remote_done) return;
  remote_applied = TRUE;
  if (remote_ufrag == NULL ||
      !nice_agent_set_remote_credentials(agent, stream_id, remote_ufrag, remote_pwd)) {
    fprintf(stderr, "nice_peer: cannot set remote credentials\n");
    g_main_loop_quit(loop);
    return;
  }
  for (i = 0; i < remote_lines->len; i++) {
    /* libnice's parser wants the SDP attribute form. */
    gchar* sdp = g_strconcat("a=", (const gchar*)g_ptr_array_index(remote_lines, i), NULL);
    NiceCandidate* c = nice_agent_parse_remote_candidate_sdp(agent, stream_id, sdp);
    if (c == NULL) {
      fprintf(stderr, "nice_peer: cannot parse %s\n", sdp);
    } else {
      list = g_slist_append(list, c);
    }
    g_free(sdp);
  }
  added = nice_agent_set_remote_candidates(agent, stream_id, 1, list);
  fprintf(stderr, "nice_peer: %.1f ms: %d remote candidates set\n", elapsed_ms(), added);
  g_slist_free_full(list, (GDestroyNotify)nice_candidate_free);
}

static void on_gathering_done(NiceAgent* a, guint sid, gpointer data) {
  gchar* ufrag = NULL;
  gchar* pwd = NULL;
  GSList* cands;
  GSList* i;
  (void)data;
  nice_agent_get_local_credentials(a, sid, &ufrag, &pwd);
  printf("cred %s %s\n", ufrag, pwd);
  cands = nice_agent_get_local_candidates(a, sid, 1);
  for (i = cands; i != NULL; i = i->next) {
    gchar* sdp = nice_agent_generate_local_candidate_sdp(a, (NiceCandidate*)i->data);
    printf("cand %s\n", g_str_has_prefix(sdp, "a=") ? sdp + 2 : sdp);
    g_free(sdp);
  }
  printf("done\n");
  fflush(stdout);
  g_slist_free_full(cands, (GDestroyNotify)nice_candidate_free);
  g_free(ufrag);
  g_free(pwd);
  gathered = TRUE;
  apply_remote();
}

static gboolean quit_cb(gpointer data) {
  (void)data;
  exit_code = 0;
  g_main_loop_quit(loop);
  return G_SOURCE_REMOVE;
}

static void maybe_finish(void) {
  if (finishing || !ready || received == 0 || sent < 3) return;
  finishing = TRUE;
  fprintf(stderr, "nice_peer: %.1f ms: datagrams both ways (sent %u, received %u)\n", elapsed_ms(),
          sent, received);
  /* Keep answering checks and sending a little longer so the peer gets ours too. */
  g_timeout_add(1000, quit_cb, NULL);
}

static gboolean send_cb(gpointer data) {
  char msg[64];
  int n;
  (void)data;
  n = snprintf(msg, sizeof msg, "hello from libnice %u", sent);
  if (nice_agent_send(agent, stream_id, 1, (guint)n, msg) == n) sent++;
  maybe_finish();
  return G_SOURCE_CONTINUE;
}

static void on_state_changed(NiceAgent* a, guint sid, guint component, guint state, gpointer data) {
  (void)a;
  (void)sid;
  (void)component;
  (void)data;
  fprintf(stderr, "nice_peer: %.1f ms: component state %s\n", elapsed_ms(),
          nice_component_state_to_string(state));
  if (state == NICE_COMPONENT_STATE_READY && !ready) {
    ready = TRUE;
    g_timeout_add(200, send_cb, NULL);
    send_cb(NULL);
  } else if (state == NICE_COMPONENT_STATE_FAILED) {
    fprintf(stderr, "nice_peer: component failed\n");
    g_main_loop_quit(loop);
  }
}

static void on_selected_pair(NiceAgent* a, guint sid, guint component, NiceCandidate* local,
                             NiceCandidate* remote, gpointer data) {
  gchar l[NICE_ADDRESS_STRING_LEN];
  gchar r[NICE_ADDRESS_STRING_LEN];
  (void)a;
  (void)sid;
  (void)component;
  (void)data;
  nice_address_to_string(&local->addr, l);
  nice_address_to_string(&remote->addr, r);
  fprintf(stderr, "nice_peer: %.1f ms: selected pair %s:%u -> %s:%u\n", elapsed_ms(), l,
          nice_address_get_port(&local->addr), r, nice_address_get_port(&remote->addr));
}

static void on_recv(NiceAgent* a, guint sid, guint component, guint len, gchar* buf,
                    gpointer data) {
  (void)a;
  (void)sid;
  (void)component;
  (void)data;
  if (len >= 5 && memcmp(buf, "hello", 5) == 0) {
    if (received == 0) {
      fprintf(stderr, "nice_peer: %.1f ms: first datagram: %.*s\n", elapsed_ms(), (int)len, buf);
    }
    received++;
    maybe_finish();
  }
}

static gboolean on_stdin(GIOChannel* source, GIOCondition cond, gpointer data) {
  gchar* line = NULL;
  gsize len = 0;
  GIOStatus status;
  (void)cond;
  (void)data;
  status = g_io_channel_read_line(source, &line, &len, NULL, NULL);
  if (status == G_IO_STATUS_EOF || status == G_IO_STATUS_ERROR) {
    g_free(line);
    return G_SOURCE_REMOVE;
  }
  if (line == NULL) return G_SOURCE_CONTINUE;
  g_strchomp(line);
  if (g_str_has_prefix(line, "cred ")) {
    gchar** parts = g_strsplit(line + 5, " ", 2);
    if (parts[0] != NULL && parts[1] != NULL) {
      remote_ufrag = g_strdup(parts[0]);
      remote_pwd = g_strdup(parts[1]);
    }
    g_strfreev(parts);
  } else if (g_str_has_prefix(line, "cand ")) {
    g_ptr_array_add(remote_lines, g_strdup(line + 5));
  } else if (strcmp(line, "done") == 0) {
    remote_done = TRUE;
    apply_remote();
  }
  g_free(line);
  return G_SOURCE_CONTINUE;
}

static gboolean watchdog(gpointer data) {
  (void)data;
  fprintf(stderr, "nice_peer: watchdog: ready=%d sent=%u received=%u\n", ready, sent, received);
  g_main_loop_quit(loop);
  return G_SOURCE_REMOVE;
}

int main(int argc, char** argv) {
  NiceAgentOption flags = NICE_AGENT_OPTION_NONE;
  const char* env;
  GIOChannel* in;
  int i;

  if (argc < 3 || (strcmp(argv[1], "controlling") != 0 && strcmp(argv[1], "controlled") != 0)) {
    fprintf(stderr, "usage: nice_peer controlling|controlled <ip>...\n");
    return 2;
  }
  /* GLib writes debug and info messages to stdout by default, which is the signalling channel. */
  g_log_writer_default_set_use_stderr(TRUE);
  if (g_getenv("NICE_DEBUG_ON") != NULL) nice_debug_enable(TRUE);
  started_us = g_get_monotonic_time();
  controlling = strcmp(argv[1], "controlling") == 0;
  env = g_getenv("NICE_FLAGS");
  if (env != NULL && strstr(env, "regular") != NULL) flags |= NICE_AGENT_OPTION_REGULAR_NOMINATION;
  remote_lines = g_ptr_array_new_with_free_func(g_free);

  loop = g_main_loop_new(NULL, FALSE);
  agent = nice_agent_new_full(g_main_loop_get_context(loop), NICE_COMPATIBILITY_RFC5245, flags);
  g_object_set(agent, "controlling-mode", controlling, "upnp", FALSE, "ice-tcp", FALSE, NULL);
  for (i = 2; i < argc; i++) {
    NiceAddress addr;
    if (!nice_address_set_from_string(&addr, argv[i])) {
      fprintf(stderr, "nice_peer: bad address %s\n", argv[i]);
      return 2;
    }
    nice_agent_add_local_address(agent, &addr);
  }
  g_signal_connect(agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done), NULL);
  g_signal_connect(agent, "component-state-changed", G_CALLBACK(on_state_changed), NULL);
  g_signal_connect(agent, "new-selected-pair-full", G_CALLBACK(on_selected_pair), NULL);

  stream_id = nice_agent_add_stream(agent, 1);
  nice_agent_attach_recv(agent, stream_id, 1, g_main_loop_get_context(loop), on_recv, NULL);

  in = g_io_channel_unix_new(0);
  g_io_add_watch(in, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, NULL);
  g_timeout_add_seconds(20, watchdog, NULL);

  if (!nice_agent_gather_candidates(agent, stream_id)) {
    fprintf(stderr, "nice_peer: gathering failed\n");
    return 1;
  }
  g_main_loop_run(loop);

  fprintf(stderr, "nice_peer: exit %d after %.1f ms\n", exit_code, elapsed_ms());
  g_io_channel_unref(in);
  g_object_unref(agent);
  g_main_loop_unref(loop);
  g_ptr_array_free(remote_lines, TRUE);
  g_free(remote_ufrag);
  g_free(remote_pwd);
  return exit_code;
}
