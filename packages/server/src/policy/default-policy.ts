/** @module policy/default-policy — the built-in policy: exactly the scopes of the operation table. */

/** The file name the built-in policy is reported under. */
export const defaultPolicyName = '(built-in default policy)'

/**
 * A token may do what its scopes cover: admin everything, any other token a call whose required scopes
 * (the operation's, plus what the built-in action asks for in a runAction) it all holds.
 */
export const defaultPolicyText = `// tidepool's default policy: a token may do what its scopes cover.
@id("admin")
permit (principal, action, resource)
when { principal.scopes.contains("admin") };

@id("scopes")
permit (principal, action, resource)
when { principal.scopes.containsAll(context.requiredScopes) };
`
