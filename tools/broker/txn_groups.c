/*
 * Transactions and the group coordinator: TxnOffsetCommit (KIP-447) and applying a committed
 * transaction's offsets. Until the group coordinator exists, committed transactional offsets
 * are dropped with a warning.
 */
#include <stdio.h>

#include "bc_log.h"
#include "broker.h"

void txn_offsets_apply(struct broker *b, struct txn *t)
{
    (void)b;
    bc_log(BC_LOG_WARN, "transactional offsets dropped: no group coordinator", "transactional_id",
           t->id, NULL);
}
