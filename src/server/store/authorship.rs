//! Who did what: the `created_by` / `updated_by` columns of versions and test cases. Batches
//! record their author as they are created (`NewBatch::created_by`).

use super::{on_pool, Store, StoreResult};

/// A table whose rows record their authors.
#[derive(Debug, Clone, Copy)]
pub enum Authored {
    Version,
    Case,
}

impl Authored {
    fn table(self) -> &'static str {
        match self {
            Authored::Version => "versions",
            Authored::Case => "test_cases",
        }
    }
}

/// Ids per statement: well under SQLite's 32,766 bound parameters.
const CHUNK: usize = 500;

impl Store {
    /// Records `by` as the author of rows just created (`created`: both columns) or as the
    /// last to change them.
    pub async fn stamp_author(
        &self,
        kind: Authored,
        ids: &[i64],
        by: &str,
        created: bool,
    ) -> StoreResult<()> {
        let set = if created {
            "created_by = $1, updated_by = $1"
        } else {
            "updated_by = $1"
        };
        for chunk in ids.chunks(CHUNK) {
            let marks: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "UPDATE {} SET {set} WHERE id IN ({})",
                kind.table(),
                marks.join(", ")
            );
            on_pool!(self, pool => {
                let mut q = sqlx::query(&sql).bind(by);
                for id in chunk {
                    q = q.bind(*id);
                }
                q.execute(pool).await.map(|_| ())
            })?;
        }
        Ok(())
    }
}
