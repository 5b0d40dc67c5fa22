/** The answer of GET /v1/methods: the attack registry as JSON. */
import { Type, type Static } from '@sinclair/typebox';

export const MethodsJson = Type.Object(
  {
    methods: Type.Array(
      Type.Object({
        id: Type.String({ description: 'The `method` parameter value.' }),
        title: Type.String(),
        summary: Type.String({ description: 'The update rule and its defaults, in one line.' }),
        paper: Type.Object({ authors: Type.String(), year: Type.Integer(), title: Type.String(), url: Type.String() }),
        defaultIterations: Type.Integer(),
        modifiers: Type.Array(Type.String(), { description: 'The shared modifiers it takes (di, ti, loss).' }),
        options: Type.Object({}, {
          additionalProperties: true,
          description: "JSON schema (type object) of the method's options and its modifiers' options, each with its range, description and default (an option without one is computed by the method, as its description says).",
        }),
      }),
    ),
  },
  { $id: 'MethodsJson' },
);
export type MethodsJson = Static<typeof MethodsJson>;
