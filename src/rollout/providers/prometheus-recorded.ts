/**
 * Answers recorded from Prometheus 2.x's HTTP API (`/api/v1/query`), for the provider tests'
 * loopback server (the odd answers a real Prometheus is hard to make give). Not used by production
 * code. The provider against a real Prometheus: test/prometheus/.
 */
export const PROMETHEUS_ANSWERS = {
  vector: {
    status: 200,
    body: '{"status":"success","data":{"resultType":"vector","result":[{"metric":{"version":"beta","job":"whoami"},"value":[1718000000.123,"0.12"]},{"metric":{"version":"beta","job":"whoami-2"},"value":[1718000000.123,"0.3"]}]}}',
  },
  emptyVector: { status: 200, body: '{"status":"success","data":{"resultType":"vector","result":[]}}' },
  scalar: { status: 200, body: '{"status":"success","data":{"resultType":"scalar","result":[1718000000.123,"0.0042"]}}' },
  nan: { status: 200, body: '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1718000000.123,"NaN"]}]}}' },
  matrix: {
    status: 200,
    body: '{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1718000000,"1"],[1718000015,"2"]]}]}}',
  },
  badQuery: {
    status: 400,
    body: '{"status":"error","errorType":"bad_data","error":"invalid parameter \\"query\\": 1:6: parse error: unexpected \\")\\""}',
  },
} as const;
