/* --topology FILE: create the topics a topology declares (topology.c). */
#ifndef BROKER_TOPOLOGY_H
#define BROKER_TOPOLOGY_H

#include <stddef.h>

struct broker;

/* Creates every topic under `topics:` of the YAML file at path that does not exist yet
 * (existing ones are left as they are). Returns 0, or -1 with "path:line:column: what" in
 * errstr; topics before the faulty one may have been created. */
int topology_apply(struct broker *b, const char *path, char *errstr, size_t errstr_size);

#endif
