/** better-sqlite3 13 installed under an alias (see store/db.ts): the same API as better-sqlite3 12. */
declare module 'better-sqlite3-napi' {
  import Database from 'better-sqlite3'
  export default Database
}
