// Metacontroller's "hello world" sync hook: each HelloWorld parent gets one Pod that prints
// a greeting, and its status counts the Pods it has. The same answer as rules/hello.yaml.
function(request)
  local parent = request.parent;
  local who = std.get(std.get(parent, 'spec', {}), 'who', 'World');
  {
    status: {
      pods: std.length(std.get(std.get(request, 'children', {}), 'Pod.v1', {})),
    },
    children: [
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: parent.metadata.name },
        spec: {
          restartPolicy: 'OnFailure',
          containers: [
            {
              name: 'hello',
              image: 'busybox',
              command: ['echo', 'Hello, ' + who + '!'],
            },
          ],
        },
      },
    ],
  }
