$env:MCP_TOKEN = 'eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJhcGk6Ly9kYXRhIn0.c2ln'
