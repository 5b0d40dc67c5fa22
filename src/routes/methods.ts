/** GET /v1/methods: every attack method, its paper and its options, from the attack registry. */
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { AttackDefinition } from '../engine/attacks/definition';
import { ATTACKS, optionSchemas } from '../engine/attacks/registry';
import type { RouteDeps } from './attack';
import { MethodsJson } from './methods-schema';
import { jsonOk, problems } from './responses';

export function methodsJson(): MethodsJson {
  return {
    methods: (ATTACKS as readonly AttackDefinition[]).map((d) => ({
      id: d.id,
      title: d.title,
      summary: d.summary,
      paper: d.paper,
      defaultIterations: d.defaultIterations,
      modifiers: [...d.modifiers],
      options: JSON.parse(JSON.stringify(Type.Object(optionSchemas(d)))),
    })),
  };
}

export const methodRoutes: FastifyPluginAsync<RouteDeps> = async (app) => {
  const body = methodsJson();
  app.get(
    '/v1/methods',
    {
      schema: {
        operationId: 'listMethods',
        tags: ['attack'],
        summary: 'The attack methods: id, title, paper, and their options with ranges and defaults.',
        response: { 200: jsonOk(Type.Ref(MethodsJson), 'The attack methods.'), ...problems(500) },
      },
    },
    async () => body,
  );
};
